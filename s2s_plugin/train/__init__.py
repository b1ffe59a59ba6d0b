"""Training on PyTorch Lightning: text pretraining (stage 7) and S2ST training (stage 8).

    s2s pretrain-text --config conf/pretrain_text.yaml --vocab exp/vocab/vocab.yaml --exp exp/lm
    s2s train --config conf/train_scheduled.yaml --exp exp/s2st_scheduled
    s2s launch --ngpu 4 -- s2s train --config conf/train_scheduled.yaml --exp exp/s2st_scheduled

- :mod:`~s2s_plugin.train.schema`: the strict config dataclasses;
- :mod:`~s2s_plugin.train.datamodule`: tasks (items -> token sequences) and the DataModule;
- :mod:`~s2s_plugin.train.sampler`: token-budget batches, length bucketing, resumable order;
- :mod:`~s2s_plugin.train.module`: the LightningModule (loss per segment, p, optimiser, RNG state);
- :mod:`~s2s_plugin.train.strategy`: devices, DDP/FSDP and precision from the config;
- :mod:`~s2s_plugin.train.checkpoint`: atomic checkpoints, periodic snapshots, averaging, the final model dir;
- :mod:`~s2s_plugin.train.run`: one run in an exp dir, from setup to the averaged model.

Nothing heavy is imported here.
"""
