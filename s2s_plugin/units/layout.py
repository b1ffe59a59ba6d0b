"""The files of a unit tokenizer's exp dir (stage 4), named once for the modules that write and read it.

    from s2s_plugin.units.layout import FIT_JSON, UNITS_YAML
    info = yaml.safe_load((exp_dir / UNITS_YAML).read_text())

``units.yaml`` is written last, so its presence marks a finished tokenizer (fitted by
:mod:`s2s_plugin.units.stage` or imported by :mod:`s2s_plugin.units.peer`); ``fit.json``
holds what the fit (or the import) measured.
"""

UNITS_YAML = "units.yaml"
FIT_JSON = "fit.json"
