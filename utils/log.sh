#!/usr/bin/env bash
# Logging helpers shared by recipes. Source it, do not run it:
#
#   . utils/log.sh
#   log "Stage 2: audio formatting"     # 2025-01-31 14:02:11 [s2st.sh] Stage 2: audio formatting
#   die "data/train_fr: no wav.scp.fr"  # same format with "ERROR:", then exit 1
#
# Messages go to stderr so they never mix with data a script writes to stdout.

# log MESSAGE...: print the local time, the calling script's name and the message.
log() {
    local caller="${BASH_SOURCE[1]:-$0}"
    printf '%s [%s] %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "${caller##*/}" "$*" >&2
}

# die MESSAGE...: log an error and exit with status 1.
die() {
    local caller="${BASH_SOURCE[1]:-$0}"
    printf '%s [%s] ERROR: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "${caller##*/}" "$*" >&2
    exit 1
}
