"""Hyperparameter search for fine-tuning with Optuna (Akiba et al. 2019, *Optuna: a next-generation
hyperparameter optimization framework*).

``PruneOnValidation`` is a callback for :func:`ftlab.train.fit`: every few steps it reports validation
accuracy to an Optuna trial and stops training when the trial's pruner (e.g. ``MedianPruner``) says the
run is unpromising; ``make_sampler`` builds the seeded samplers a lesson compares; ``pruning_summary``
counts what pruning stopped and how many optimizer steps it saved.
"""
from __future__ import annotations

from collections.abc import Iterable

import optuna
import torch

from ftlab.train import evaluate


class PruneOnValidation:
    """``fit`` callback: report validation accuracy every ``every`` steps; return "stop" when pruned.

    Args:
        trial: the Optuna trial being trained (the model is fit's ``state.model``).
        valid_dl, device: the validation images, and where the model is.
        every: steps between reports (also the steps at which the pruner is asked).
        total_steps: the run's planned length; the pruner is not asked at the last step, which costs nothing to finish.
    """

    def __init__(self, trial: optuna.Trial, valid_dl: Iterable, every: int = 20,
                 total_steps: int | None = None, device: torch.device | str | None = None):
        self.trial, self.valid_dl, self.device = trial, valid_dl, device
        self.every, self.total_steps = every, total_steps
        self.pruned, self.steps_run, self.curve = False, 0, []

    def __call__(self, event: str, state) -> str | None:
        if event != "step":
            return None
        self.steps_run = state.step
        if state.step % self.every:
            return None
        acc = evaluate(state.model, self.valid_dl, device=self.device)["acc"]
        state.model.train()  # evaluate() leaves the model in eval mode; training goes on
        self.curve.append((state.step, acc))
        self.trial.report(acc, state.step)
        if state.step != self.total_steps and self.trial.should_prune():
            self.pruned = True
            return "stop"
        return None

    def result(self) -> float:
        """The last reported accuracy; raises ``optuna.TrialPruned`` if the run was pruned (call after fit)."""
        self.trial.set_user_attr("steps_run", self.steps_run)
        self.trial.set_user_attr("steps_planned", self.total_steps or self.steps_run)
        if self.pruned:
            raise optuna.TrialPruned(f"pruned at step {self.steps_run}")
        if not self.curve:
            raise ValueError(f"no accuracy was reported: run at least every={self.every} steps.")
        return self.curve[-1][1]


def make_sampler(name: str, seed: int = 0, n_startup_trials: int = 10) -> optuna.samplers.BaseSampler:
    """A seeded 'random' or 'tpe' sampler (TPE samples at random for its first ``n_startup_trials``)."""
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)
    raise ValueError(f"sampler must be 'random' or 'tpe', not {name!r}.")


def pruning_summary(study: optuna.Study) -> dict[str, int]:
    """Trials pruned and completed, optimizer steps run, and steps saved (planned minus run, over pruned trials)."""
    pruned = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    ran = sum(t.user_attrs.get("steps_run", 0) for t in pruned + done)
    saved = sum(t.user_attrs["steps_planned"] - t.user_attrs["steps_run"] for t in pruned)
    return {"pruned": len(pruned), "complete": len(done), "steps_run": ran, "steps_saved": saved}
