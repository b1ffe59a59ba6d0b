# shellcheck shell=bash
# parse_options.sh: turn "--name value" command-line options into shell variables.
# Source it (do not run it) after setting every option's default:
#
#   stage=1
#   use_gpu=false
#   help_message="Usage: $0 [options] <data_dir>
#   Options:
#     --stage N        first stage to run (default: ${stage})
#     --use_gpu BOOL   true or false (default: ${use_gpu})"
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
#   --help or -h prints help_message, then the current value of every option
#       that help_message names, and exits with status 0.
#   Parsing stops at the first argument that does not start with "--", or
#   after a lone "--", which is removed.
# Errors print a message naming the script and the option, and exit 1.
# Internal variables start with _po_ and are unset at the end.

_po_script=${0##*/}

_po_fail() {
    printf '%s: error: %s\n' "${_po_script}" "$*" >&2
    printf '%s: run "%s --help" to see the options.\n' "${_po_script}" "$0" >&2
    exit 1
}

_po_print_help() {
    local text=${help_message:-"Usage: $0 [options] (this script has no help_message)"}
    local tok name seen=" "
    printf '%s\n\nCurrent values:\n' "${text}"
    # Every "--name" mentioned in help_message that is a variable of the script.
    for tok in $(printf '%s\n' "${text}" | grep -o -E -- '--[A-Za-z_][A-Za-z0-9_-]*' || true); do
        name=${tok#--}
        name=${name//-/_}
        case "${seen}" in *" ${name} "*) continue ;; esac
        seen="${seen}${name} "
        [[ -v ${name} ]] || continue
        case "${!name}" in
            '' | *[[:space:]]*) printf '  --%s "%s"\n' "${name}" "${!name}" ;;
            *) printf '  --%s %s\n' "${name}" "${!name}" ;;
        esac
    done
}

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

unset _po_script _po_args _po_k _po_configs _po_file _po_opt _po_value _po_name
unset -f _po_fail _po_print_help
