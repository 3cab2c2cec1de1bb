from types import SimpleNamespace

import optuna
import pytest
import torch
from torch import nn

from ftlab.search import PruneOnValidation, make_sampler, pruning_summary
from ftlab.train import fit

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def task():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    return x, y


def objective(task, bad_from: int):
    """A tiny run whose lr decides its accuracy: trials from ``bad_from`` on barely learn."""
    x, y = task

    def run(trial):
        torch.manual_seed(0)
        model = nn.Linear(4, 2)
        lr = 0.1 if trial.number < bad_from else 1e-6
        trial.suggest_float("lr", lr, lr)
        dl = [(x[i % 4 * 16:(i % 4 + 1) * 16], y[i % 4 * 16:(i % 4 + 1) * 16]) for i in range(12)]
        cb = PruneOnValidation(trial, [(x, y)], every=4, total_steps=12)
        fit(model, dl, 1, lr, schedule=None, callbacks=[cb], progress=False)
        return cb.result()
    return run


def test_reports_every_few_steps_and_completes(task):
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    study.optimize(objective(task, bad_from=99), n_trials=1)
    t = study.trials[0]
    assert sorted(t.intermediate_values) == [4, 8, 12]
    assert t.value == t.intermediate_values[12] and t.user_attrs["steps_run"] == 12


def test_median_pruner_stops_bad_trials_and_counts_saved_steps(task):
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=4)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.optimize(objective(task, bad_from=2), n_trials=4)
    states = [t.state for t in study.trials]
    assert states[:2] == [optuna.trial.TrialState.COMPLETE] * 2
    assert states[2:] == [optuna.trial.TrialState.PRUNED] * 2
    assert all(t.user_attrs["steps_run"] == 4 for t in study.trials[2:])  # stopped at the first report
    assert pruning_summary(study) == {"pruned": 2, "complete": 2, "steps_run": 32, "steps_saved": 16}


def test_no_prune_check_at_the_last_step():
    trial = SimpleNamespace(report=lambda v, s: None, should_prune=lambda: True)
    model = nn.Linear(2, 2)
    cb = PruneOnValidation(trial, [(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long))], every=2, total_steps=2)
    assert cb("step", SimpleNamespace(step=1, model=model)) is None and cb("start", SimpleNamespace(step=0)) is None
    assert cb("step", SimpleNamespace(step=2, model=model)) is None and not cb.pruned and cb.steps_run == 2


def test_make_sampler_is_seeded():
    a = [make_sampler("random", seed=3).sample_independent(None, None, "x", optuna.distributions.FloatDistribution(0, 1))
         for _ in range(2)]
    assert a[0] == a[1]
    assert isinstance(make_sampler("tpe", n_startup_trials=3), optuna.samplers.TPESampler)
    with pytest.raises(ValueError):
        make_sampler("grid")
