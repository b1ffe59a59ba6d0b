#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..
# local/data.sh: stage 1 of the CVSS recipe (run from the recipe dir). Turns
# Common Voice 4 (source speech, transcripts, speakers) and CVSS-C/T (target
# speech, translations) into data/{train,dev,test}_<src>/ for each source
# language, through `s2s corpus-cvss`. Corpus locations come from db.sh.
# Broken entries are listed in data/local/prep_report_<src>.txt; the script
# fails when a split has more than --max_missing of its entries broken.
set -euo pipefail

src_lang=fr         # source language(s), space-separated: "fr de es"
version=c           # c: CVSS-C (the paper) | t: CVSS-T
test_subset=1000    # random test utterances kept per language (the paper: 1,000); 0 keeps all
seed=1              # seed of that draw
max_missing=0.02    # largest share of broken entries a split may have
nj=4                # processes reading audio headers
datadir=data        # where <split>_<src>/ go

help_message="Usage: $0 [options]
Prepares data/{train,dev,test}_<src> from Common Voice 4 and CVSS (locations: db.sh)."

. utils/log.sh
. utils/parse_options.sh
[ $# -eq 0 ] || die "unexpected arguments: $* (options are --name value; see --help)"
[ -f path.sh ] || die "run me from the recipe dir (egs/cvss/s2st1)"
. ./path.sh
. ./db.sh

# require_dir NAME WHAT: the db.sh location NAME must name an existing dir.
require_dir() {
    local name=$1 what=$2
    [ -n "${!name}" ] || die "${name} is not set: put the path of ${what} in db.sh (or run with ${name}=/path ./run.sh); db.sh says what to download and how to unpack it"
    [ -d "${!name}" ] || die "${name}=${!name} (db.sh) is not a directory: it should hold ${what}; db.sh says what to download and how to unpack it"
}
require_dir CV4 "Common Voice release 4 (cv-corpus-4-2019-12-10), one dir per language: \${CV4}/<src>/validated.tsv and clips/"
require_dir CVSS "CVSS, one dir per version and pair: \${CVSS}/cvss_${version}/<src>_en/{train,dev,test}.tsv and {train,dev,test}/"

log "Preparing CVSS-${version^^} ${src_lang} -> en from CV4=${CV4} CVSS=${CVSS} into ${datadir}/"
# shellcheck disable=SC2086  # src_lang may hold several languages
python -m s2s_plugin.bin.main corpus-cvss \
    --cv4 "${CV4}" --cvss "${CVSS}" --version "${version}" --src_lang ${src_lang} \
    --out "${datadir}" --test_subset "${test_subset}" --seed "${seed}" \
    --max_missing "${max_missing}" --nj "${nj}"
log "Done: ${datadir}/{train,dev,test}_<src> for ${src_lang}; broken entries in ${datadir}/local/prep_report_<src>.txt"
