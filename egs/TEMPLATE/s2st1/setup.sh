#!/usr/bin/env bash
# setup.sh NEW_DIR [--from mini_s2st|cvss]: make a new recipe dir whose ./run.sh
# runs stages 1-11 once local/data.sh is written. Run with --help.
set -euo pipefail

usage() {
    cat <<EOF
Usage: $0 NEW_DIR [--from mini_s2st|cvss]

Makes the recipe dir NEW_DIR (normally egs/<corpus>/s2st1; its parent dirs are
created), based on the configs of an existing recipe (--from, default mini_s2st):
  mini_s2st  egs/mini_s2st/s2st1/conf: every model trained in the recipe, on the CPU
             (CTC model, k-means units, BPE, a small text LLM, unit-selection
             vocoder, a CTC scoring ASR); nothing to download
  cvss       egs/cvss/s2st1/conf/tuning: the paper's pretrained models on a GPU
             (w2v-BERT 2.0 CTC, Llama-3.2-1B, unit HiFi-GAN, Whisper large-v3),
             put under NEW_DIR/downloads/ as egs/cvss/s2st1/db.sh says
The dir gets:
  utils -> <repo>/utils, s2st.sh -> <repo>/egs/TEMPLATE/s2st1/s2st.sh
                      (relative symlinks: fixes to the shared scripts reach every recipe)
  path.sh, cmd.sh     copies, to edit (environment; local, Slurm, SGE, PBS or ssh jobs)
  run.sh              languages, sets and the config of every stage, then ./s2st.sh "\$@"
  conf/*.yaml         the config of every stage, copied from the base recipe, each
                      starting with a note on what to change for a new corpus
  conf/slurm.conf, conf/queue.conf, conf/pbs.conf
                      job rules for cmd_backend=slurm, sge and pbs
  local/data.sh       a placeholder that says what it must make and fails until you
                      write the data preparation
Refuses to touch an existing NEW_DIR. Then: edit run.sh and local/data.sh and
run ./run.sh from NEW_DIR; egs/TEMPLATE/README.md walks every stage.
EOF
}

new=""
base=mini_s2st
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --from) [ $# -ge 2 ] || { echo "$0: --from needs a value (mini_s2st or cvss)" >&2; exit 1; }
                base=$2; shift 2 ;;
        --from=*) base=${1#--from=}; shift ;;
        -*) echo "$0: unknown option $1" >&2; usage >&2; exit 1 ;;
        *) [ -z "${new}" ] || { usage >&2; exit 1; }
           new=${1%/}; shift ;;
    esac
done
if [ -z "${new}" ]; then
    usage >&2
    exit 1
fi
if [ -e "${new}" ] || [ -L "${new}" ]; then
    echo "$0: ${new} already exists; refusing to overwrite it (remove it or pick another name)" >&2
    exit 1
fi

template=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
root=$(cd "${template}/../../.." && pwd -P)

# The configs of each base: "stage:name in the new conf/:path in egs/<base>/s2st1".
case "${base}" in
    mini_s2st)
        confs="2:format.yaml:conf/format.yaml 3:ctc.yaml:conf/ctc.yaml 4:units.yaml:conf/units.yaml
               5:align.yaml:conf/align.yaml 6:vocab.yaml:conf/vocab.yaml 7:pretrain_text.yaml:conf/pretrain_text.yaml
               8:train_scheduled.yaml:conf/train_scheduled.yaml 9:decode.yaml:conf/decode.yaml
               10:vocoder.yaml:conf/vocoder.yaml 11:asr_en.yaml:conf/asr_en.yaml 11:score.yaml:conf/score.yaml"
        # run.sh values: ctc_conf ctc_import pretrain_conf asr_conf ngpu gpu_inference
        run_values=("conf/ctc.yaml" "" "conf/pretrain_text.yaml" "conf/asr_en.yaml" 0 false) ;;
    cvss)
        confs="2:format.yaml:conf/format.yaml 4:units.yaml:conf/tuning/units.yaml 5:align.yaml:conf/tuning/align.yaml
               6:vocab.yaml:conf/tuning/vocab.yaml 8:train_scheduled.yaml:conf/tuning/train_scheduled.yaml
               9:decode.yaml:conf/tuning/decode.yaml 10:vocoder.yaml:conf/tuning/vocoder_unit_hifigan.yaml
               11:score.yaml:conf/tuning/score_whisper.yaml"
        run_values=("" "downloads/w2v-bert-2.0-ctc" "" "" 1 true) ;;
    *) echo "$0: --from must be mini_s2st or cvss, not '${base}'" >&2; exit 1 ;;
esac
[ -d "${root}/egs/${base}/s2st1/conf" ] || { echo "$0: the base recipe egs/${base}/s2st1 is missing" >&2; exit 1; }

# note STAGE NAME: what to change in conf/NAME for a new corpus (the first lines of the copy)
note() {
    case "$2" in
        format.yaml) echo "fs: the rate the unit extractor, the vocoder and the scoring ASR expect (16 kHz for
every shipped one). min_duration/max_duration: the range of your utterances; check
dump/<set>/filter_report.txt after stage 2 for what was dropped and why." ;;
        ctc.yaml) echo "Trained on the characters of both sides of run.sh's train_sets (s2st.sh passes them;
langs: null takes every language found). Size it to your speech: max_utts (per set and
language), max_epoch, encoder_conf; check the dev CER that stage 3 prints. To import a
model instead (ESPnet ASR dir or transformers *ForCTC): ctc_import= in run.sh, and this
file is not read." ;;
        units.yaml)
            if [ "${base}" = cvss ]; then echo "The features come from stage 3's transformers CTC model (run.sh's ctc_import), which
s2st.sh passes (--ctc_exp exp/ctc); layer and n_clusters: the paper's (20, 2048); fit.max_hours caps the
k-means fit; device: cuda, or cpu without a GPU (slow). The unit vocoder of conf/vocoder.yaml
must have been trained on these units."
            else echo "The features come from stage 3's model, which s2st.sh passes (--ctc_exp exp/ctc);
tokenizer.layer: at most encoder_conf.num_blocks of conf/ctc.yaml; n_clusters: more for
more speech (300 here for ~2 h); fit.share/fit.max_hours: how much of the training speech
the k-means sees. Check the 's2s units stats' lines printed after stage 4."; fi ;;
        align.yaml) echo "The CTC model is stage 3's, which s2st.sh passes (--ctc_exp exp/ctc); aligner.model only
for one model per language. unknown_chars: fail stops on a character
the CTC model never saw; skip aligns around it (digits, punctuation, rare letters).
time_offset was measured on the base corpus only: 0.0 unless you measure yours.
max_fail_ratio: the share of utterances that may fail; dump/<set>/align.<lang>.report
lists them (s2s align-report summarises)." ;;
        vocab.yaml)
            if [ "${base}" = cvss ]; then echo "path: the LLM dir under downloads/ (the same as llm.path in conf/train_scheduled.yaml);
langs: the <lang_xx> tokens: your source languages and the target."
            else echo "A sentencepiece BPE trained on the transcripts of run.sh's train_sets and the dirs of
run.sh's lm_train_text; vocab_size to your text (a soft limit); langs: [] takes the
languages of those files. With a pretrained LLM use its tokenizer instead: tokenizer: hf,
path: <its dir> (egs/cvss/s2st1/conf/tuning/vocab.yaml)."; fi ;;
        pretrain_text.yaml) echo "Stage 7 trains the small LLM on text: text.pairs lists [source, target] language
pairs of YOUR corpus, read as <dir>/text.<lang> (Kaldi text files sharing ids) from run.sh's
lm_train_text and lm_valid_text dirs (e.g. data/lm_text/{train,dev}, which local/data.sh
writes); text.tgt_lang: your target;
llm.config: the model size; trainer.max_steps: until the dev loss flattens. With a
pretrained LLM instead: pretrain_conf=\"\" in run.sh, llm.path in conf/train_scheduled.yaml." ;;
        train_scheduled.yaml) echo "s2st.sh passes the paths: stage 6's vocabulary, the dump dirs of run.sh's train_sets
and valid_sets (data.train, data.valid) and, with a pretrain_conf, stage 7's LLM
(llm.path); data.tgt_lang: your target. Without stage 7: llm.path: a pretrained LLM dir. The schedule: p falls from p_init by decrement every
'every' steps; scale 'every' with trainer.max_steps (p = 0 at 60% of the run here).
optim.lr for your model size. Check the dev loss in exp/<tag>/train.log." ;;
        decode.yaml) echo "max_text_tokens: above the token length of your longest test sentence; max_unit_ratio
and min_units: target units per source unit and the fewest allowed; num_beams; device." ;;
        vocoder.yaml)
            if [ "${base}" = cvss ]; then echo "vocoder.checkpoint: a unit HiFi-GAN trained on the units of conf/units.yaml, in the
target language (under downloads/); another unit type needs its own vocoder."
            else echo "Unit selection over the target speech of run.sh's train_sets (it keeps that speech:
~115 MB per hour; max_utts caps it). Nothing names the corpus; check the topline
'ref units -> vocoder' ASR-BLEU of stage 11 against the reference speech's."; fi ;;
        asr_en.yaml) echo "The scoring ASR, trained on the reference target speech of run.sh's train_sets and
validated on valid_sets, never on system output. For another target language: langs and
tgt_lang, the file name (asr_<tgt>.yaml) and asr_conf in run.sh; size it as conf/ctc.yaml.
With a pretrained ASR instead (Whisper): asr_conf=\"\" in run.sh and asr: in conf/score.yaml." ;;
        score.yaml)
            if [ "${base}" = cvss ]; then echo "asr.path: the Whisper dir under downloads/; asr.language and tgt_lang: your target;
asr.device cpu (dtype float32) without a GPU; normalization to match your references."
            else echo "The scoring ASR is stage 11's (exp/asr_<tgt>, from conf/asr_<tgt>.yaml), which s2st.sh
passes (asr.exp_dir); tgt_lang: your target; normalization to match your references;
listen_samples per test set."; fi ;;
    esac
}

mkdir -p "$(dirname "${new}")"
parent=$(cd "$(dirname "${new}")" && pwd -P)
name=$(basename "${new}")

# Build under a temporary name next to NEW_DIR (same depth, so the relative
# links hold), then rename: an interrupted setup leaves no half-made recipe.
tmp=$(mktemp -d "${parent}/.${name}.XXXXXX")
trap 'rm -rf "${tmp}"' EXIT
ln -s "$(realpath -m --relative-to="${parent}/${name}" "${root}/utils")" "${tmp}/utils"
ln -s "$(realpath -m --relative-to="${parent}/${name}" "${template}/s2st.sh")" "${tmp}/s2st.sh"
cp "${template}/path.sh" "${template}/cmd.sh" "${tmp}/"
mkdir "${tmp}/conf" "${tmp}/local"
cp "${template}/conf/slurm.conf" "${template}/conf/queue.conf" "${template}/conf/pbs.conf" "${tmp}/conf/"
for entry in ${confs}; do
    stage=${entry%%:*}
    rest=${entry#*:}
    file=${rest%%:*}
    from=egs/${base}/s2st1/${rest#*:}
    {
        echo "# Stage ${stage} config of this recipe, copied by egs/TEMPLATE/s2st1/setup.sh from"
        echo "# ${from}. For a new corpus:"
        note "${stage}" "${file}" | sed 's/^/#   /'
        echo "# egs/TEMPLATE/README.md says what to check after stage ${stage}. The comments below are the"
        echo "# base recipe's and describe its corpus."
        echo "#"
        cat "${root}/${from}"
    } > "${tmp}/conf/${file}"
done
sed -e "s|@BASE@|${base}|g" -e "s|@CTC_CONF@|${run_values[0]}|" -e "s|@CTC_IMPORT@|${run_values[1]}|" \
    -e "s|@PRETRAIN_CONF@|${run_values[2]}|" -e "s|@ASR_CONF@|${run_values[3]}|" \
    -e "s|@NGPU@|${run_values[4]}|" -e "s|@GPU_INFERENCE@|${run_values[5]}|" \
    "${template}/skel/run.sh" > "${tmp}/run.sh"
cp "${template}/skel/local/data.sh" "${tmp}/local/data.sh"
chmod 755 "${tmp}" "${tmp}/run.sh" "${tmp}/local/data.sh"
mv -T "${tmp}" "${parent}/${name}"
trap - EXIT

echo "Made the recipe ${new} from egs/${base}/s2st1. Next (egs/TEMPLATE/README.md walks each step):"
echo "  1. write ${new}/local/data.sh: the corpus -> data/<set>/"
echo "  2. edit ${new}/run.sh: languages, set names"
echo "  3. read the note at the top of each ${new}/conf/*.yaml; change what it names"
echo "  4. cd ${new} && ./run.sh --stage 1 --stop_stage 1, then stage by stage"
