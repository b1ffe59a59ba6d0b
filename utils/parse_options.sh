# shellcheck shell=bash
# parse_options.sh: turn "--name value" command-line options into shell variables.
# Source it (do not run it) after the option table: one line per option,
# "name=default  # what it does", in one block (no blank line inside), the
# option's description continued on indented comment lines below it:
#
#   stage=1             # first stage to run
#   use_gpu=false       # true: run on the GPU
#                       #   (a continuation line of use_gpu's description)
#
#   help_message="Usage: $0 [options] <data_dir>
#   Runs ... (prose: what the script does; the options are listed from the table)"
#   . utils/parse_options.sh
#   # the options are gone from "$@"; $1 is now <data_dir>
#
# Rules:
#   --foo_bar VALUE, --foo-bar VALUE and --foo_bar=VALUE set the variable
#       foo_bar, which must already be set in the calling script: an unknown
#       option is an error naming it.
#   A variable whose current value is true or false accepts only true or false.
#   --config FILE sources FILE (shell assignments such as "nj=8") before any
#       other option is applied, so the command line wins over the file
#       whatever the order; several --config options are read in order.
#   --help or -h prints help_message, then the option table of the calling
#       script (every option with its default and description, read from the
#       script's own lines, so an option is documented in one place), then the
#       current value of every option (the table's and any other "--name" that
#       help_message names), and exits with status 0.
#   Parsing stops at the first argument that does not start with "--", or
#   after a lone "--", which is removed.
# The option table starts at the script's first line of the form
# "name=value  # description" and ends at the first line that is neither such
# an assignment nor an indented comment (a blank line, say); an assignment
# without a description inside it is listed as "(no description)".
# Errors print a message naming the script and the option, and exit 1.
# Internal variables start with _po_ and are unset at the end.

_po_script=${0##*/}

_po_fail() {
    printf '%s: error: %s\n' "${_po_script}" "$*" >&2
    printf '%s: run "%s --help" to see the options.\n' "${_po_script}" "$0" >&2
    exit 1
}

# _po_read_table FILE: the option table of FILE into _po_names, _po_descs and (the values
# the variables hold now, before any option is applied) _po_defaults
_po_names=()
_po_descs=()
_po_defaults=()
_po_read_table() {
    local _po_line _po_started=false _po_n
    local _po_opt_re='^([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'\''[^'\'']*'\''|[^[:space:]]*)([[:space:]]+#[[:space:]]?(.*))?$'
    local _po_cont_re='^[[:space:]]+#[[:space:]]?(.*)$'
    [ -f "$1" ] || return 0
    while IFS= read -r _po_line || [ -n "${_po_line}" ]; do
        if [[ ${_po_line} =~ ${_po_opt_re} ]] && { ${_po_started} || [ -n "${BASH_REMATCH[3]}" ]; }; then
            _po_started=true
            _po_names+=("${BASH_REMATCH[1]}")
            _po_descs+=("${BASH_REMATCH[4]}")
            _po_n=${BASH_REMATCH[1]}
            _po_defaults+=("${!_po_n-}")
        elif ${_po_started} && [[ ${_po_line} =~ ${_po_cont_re} ]]; then
            _po_n=$((${#_po_descs[@]} - 1))
            _po_descs[_po_n]+=$'\n'"${BASH_REMATCH[1]}"
        elif ${_po_started}; then
            break
        fi
    done < "$1"
}

# _po_shown VALUE: VALUE as the help shows it (quoted when empty or holding spaces)
_po_shown() {
    case "$1" in
        '' | *[[:space:]]*) printf '"%s"' "$1" ;;
        *) printf '%s' "$1" ;;
    esac
}

_po_print_help() {
    local _po_text=${help_message:-"Usage: $0 [options] (this script has no help_message)"}
    local _po_tok _po_name _po_seen=" " _po_i _po_width=0 _po_desc
    printf '%s\n' "${_po_text}"
    if [ "${#_po_names[@]}" -gt 0 ]; then
        for _po_name in "${_po_names[@]}"; do [ "${#_po_name}" -le "${_po_width}" ] || _po_width=${#_po_name}; done
        printf '\nOptions (--name VALUE or --name=VALUE; the default is in brackets):\n'
        for _po_i in "${!_po_names[@]}"; do
            _po_desc="${_po_descs[_po_i]:-(no description)} [$(_po_shown "${_po_defaults[_po_i]}")]"
            # the first line beside the name, continuation lines under the description
            printf "  --%-${_po_width}s  %s\n" "${_po_names[_po_i]}" "${_po_desc//$'\n'/$'\n'"$(printf "%$((_po_width + 6))s" '')"}"
        done
    fi
    printf '\nCurrent values:\n'
    # Every option of the table, then every "--name" help_message mentions that is a variable of the script.
    for _po_tok in ${_po_names[@]+"${_po_names[@]/#/--}"} \
            $(printf '%s\n' "${_po_text}" | grep -o -E -- '--[A-Za-z_][A-Za-z0-9_-]*' || true); do
        _po_name=${_po_tok#--}
        _po_name=${_po_name//-/_}
        case "${_po_seen}" in *" ${_po_name} "*) continue ;; esac
        _po_seen="${_po_seen}${_po_name} "
        [[ -v ${_po_name} ]] || continue
        printf '  --%s %s\n' "${_po_name}" "$(_po_shown "${!_po_name}")"
    done
}

_po_read_table "${BASH_SOURCE[1]:-}"

# Pass 1: collect --config files and apply them before everything else.
_po_args=("$@")
_po_k=0
_po_configs=()
while [ "${_po_k}" -lt "${#_po_args[@]}" ]; do
    case "${_po_args[_po_k]}" in
        --) break ;;
        --config)
            [ $((_po_k + 1)) -lt "${#_po_args[@]}" ] || _po_fail "option --config needs a file name"
            _po_configs+=("${_po_args[_po_k + 1]}")
            _po_k=$((_po_k + 2)) ;;
        --config=*) _po_configs+=("${_po_args[_po_k]#--config=}"); _po_k=$((_po_k + 1)) ;;
        --help | -h | --*=*) _po_k=$((_po_k + 1)) ;;
        --*) _po_k=$((_po_k + 2)) ;;
        *) break ;;
    esac
done
for _po_file in ${_po_configs[@]+"${_po_configs[@]}"}; do
    [ -f "${_po_file}" ] || _po_fail "--config ${_po_file}: no such file"
    # shellcheck disable=SC1090
    . "${_po_file}"
done

# Pass 2: every other option, in order, removing them from "$@".
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; break ;;
        --help | -h) _po_print_help; exit 0 ;;
        --config) shift 2; continue ;;
        --config=*) shift; continue ;;
        --*=*) _po_opt=${1%%=*}; _po_value=${1#*=}; shift ;;
        --*)
            _po_opt=$1
            [ $# -ge 2 ] || _po_fail "option ${_po_opt} needs a value"
            _po_value=$2
            shift 2 ;;
        *) break ;;
    esac
    _po_name=${_po_opt#--}
    _po_name=${_po_name//-/_}
    if ! [[ ${_po_name} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        _po_fail "invalid option ${_po_opt}"
    fi
    if ! [[ -v ${_po_name} ]]; then
        _po_fail "unknown option ${_po_opt} (this script has no variable '${_po_name}')"
    fi
    case "${!_po_name}" in
        true | false)
            case "${_po_value}" in
                true | false) ;;
                *) _po_fail "option ${_po_opt} takes true or false, not '${_po_value}'" ;;
            esac ;;
    esac
    printf -v "${_po_name}" '%s' "${_po_value}"
done

unset _po_script _po_args _po_k _po_configs _po_file _po_opt _po_value _po_name _po_names _po_descs _po_defaults
unset -f _po_fail _po_print_help _po_read_table _po_shown
