"""The Train tab: ``tab`` lays it out, ``form`` is generated from TrainConfig, ``actions`` checks
and explains, ``live`` draws a run's charts, progress, log and probe answers."""
