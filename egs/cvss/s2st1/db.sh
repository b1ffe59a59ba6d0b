# shellcheck shell=bash
# db.sh: where the CVSS recipe finds its corpora; sourced by local/data.sh.
# Nothing is downloaded by the recipe. Set each location below (or export it in
# the environment, which wins: CV4=/data/cv4 CVSS=/data/cvss ./run.sh ...).
# A location left empty stops stage 1 with a message naming the variable.
# <src> below is the CVSS source language code (fr, de, es, ca, it, ru, pt, ...).
#
# CV4: Common Voice release 4, "cv-corpus-4-2019-12-10" (Mozilla, CC0), the
#   source speech and transcripts. Download the archive of each source language
#   of that release from https://commonvoice.mozilla.org/datasets (choose the
#   version "Common Voice Corpus 4", dated 2019-12-10; the site asks for an
#   e-mail address) and unpack each into its own dir under ${CV4}:
#       mkdir -p "${CV4}/fr" && tar -xzf fr.tar.gz -C "${CV4}/fr"
#   so that these exist:
#       ${CV4}/fr/validated.tsv     (header: client_id path sentence up_votes ...)
#       ${CV4}/fr/clips/*.mp3       (48 kHz mp3, read directly through soundfile)
#   Common Voice calls Chinese "zh-CN" and Swedish "sv-SE": ${CV4}/zh-CN and
#   ${CV4}/zh both work. Should an archive carry its own
#   cv-corpus-4-2019-12-10/<lang>/ prefix, that nesting is found as well.
#   Use release 4 only: CVSS pairs its files by clip name with that release.
CV4="${CV4:-}"

# CVSS: CVSS-C and/or CVSS-T v1.0 (Google, CC BY 4.0), the target speech and
#   the normalised English translations. Download cvss_c_<src>_en_v1.0.tar.gz
#   (CVSS-C, the paper's setting) and/or cvss_t_<src>_en_v1.0.tar.gz (CVSS-T)
#   from the table of https://github.com/google-research-datasets/cvss
#   (files under https://storage.googleapis.com/cvss/cvss_c_v1.0/ and
#   .../cvss_t_v1.0/) and unpack each into its own pair dir:
#       mkdir -p "${CVSS}/cvss_c/fr_en"
#       tar -xzf cvss_c_fr_en_v1.0.tar.gz -C "${CVSS}/cvss_c/fr_en"
#   so that these exist:
#       ${CVSS}/cvss_c/fr_en/{train,dev,test}.tsv          (<clip>.mp3<TAB>translation)
#       ${CVSS}/cvss_c/fr_en/{train,dev,test}/<clip>.mp3.wav
#   (CVSS-T the same under ${CVSS}/cvss_t/). Should a tarball carry its own
#   top-level fr_en/ dir, the resulting fr_en/fr_en/ is found as well.
CVSS="${CVSS:-}"

# Models (stages 3-11). They are not corpus locations: the configs in
# conf/tuning/ and run.sh name them by paths relative to this recipe dir, under
# downloads/. Put each there, or make downloads/<name> a symlink to where it
# is (ln -s /models/Llama-3.2-1B downloads/Llama-3.2-1B); to use another path,
# give the config key as an override or edit the config. Nothing is fetched at
# run time; README.md says where each one comes from.
#   downloads/w2v-bert-2.0-ctc/    w2v-BERT 2.0 fine-tuned as a CTC ASR model, a transformers
#                                  *ForCTC dir (config.json, model.safetensors, preprocessor_config.json,
#                                  vocab.json + tokenizer_config.json): run.sh ctc_import (stage 3),
#                                  conf/tuning/units.yaml tokenizer.model_dir (stage 4)
#   downloads/Llama-3.2-1B/        meta-llama/Llama-3.2-1B (base), a transformers dir with its tokenizer:
#                                  conf/tuning/vocab.yaml path, conf/tuning/train_*.yaml llm.path
#   downloads/unit_hifigan/        only to import a unit HiFi-GAN trained elsewhere for conf/tuning/units.yaml's
#                                  units (stage 10 trains one by default), ParallelWaveGAN format
#                                  (checkpoint-<N>steps.pkl + config.yml):
#                                  conf/tuning/vocoder_unit_hifigan_import.yaml vocoder.checkpoint
#   downloads/whisper-large-v3/    openai/whisper-large-v3, a transformers dir:
#                                  conf/tuning/score_whisper.yaml asr.path
#   downloads/utmos22_strong_step7459_v1.pt   UTMOS22 strong, SpeechMOS's release file
#                                  (github.com/tarepan/SpeechMOS/releases, v1.0.0):
#                                  conf/tuning/score_whisper.yaml quality.checkpoint
# Only for the mHuBERT variant (conf/tuning/units_mhubert.yaml, vocoder_mhubert.yaml):
#   downloads/mhubert/mhubert_base_vp_en_es_fr_it3.pt   mHuBERT, the s3prl-converted checkpoint
#   downloads/mhubert/mhubert_base_vp_en_es_fr_it3_L11_km1000.bin   fairseq's k-means of those units
#   downloads/mhubert_vocoder/     fairseq's English CodeHiFiGAN for them (g_00500000 + config.json)
