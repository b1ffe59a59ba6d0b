"""Stage 11, scoring: text normalisation, BLEU and WER, reports, plots, listening page.

    s2s score --config conf/score.yaml --exp exp/s2st_scheduled --sets test_fr test_es test_pt
    s2s compare --exps exp/baseline_seed1 exp/baseline_seed2 --out exp/compare/table.md
    s2s compare --exps exp/s2st_{baseline,scheduled}_seed{1,2} --results exp/compare/RESULTS.md

- :mod:`~s2s_plugin.eval.normalize`: the one normalisation of hypotheses and references;
- :mod:`~s2s_plugin.eval.metrics`: sacrebleu corpus BLEU and jiwer WER;
- :mod:`~s2s_plugin.eval.score`: the stage (``ScoreConfig``, ``run_stage``);
- :mod:`~s2s_plugin.eval.report`: ``RESULTS.md`` and the comparison of runs;
- :mod:`~s2s_plugin.eval.stats`, :mod:`~s2s_plugin.eval.replication`: paired bootstrap intervals over
  test utterances and the verdicts on the paper's claims (``s2s compare --results``);
- :mod:`~s2s_plugin.eval.plots`, :mod:`~s2s_plugin.eval.listen`: plots and the HTML page.
- :mod:`~s2s_plugin.eval.similarity`: speech-text similarity of the last layer over training
  checkpoints (``s2s similarity``, docs/similarity.md).

The ASR models that transcribe speech are ``asr_model`` plugins
(:mod:`s2s_plugin.asr.scorers`).
"""
