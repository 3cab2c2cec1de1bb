import numpy as np
import pytest
import torch
from torch import nn

from ftlab.freeze import freeze
from ftlab.train import History, cross_entropy, evaluate, fit, make_scheduler, seed_everything


def test_fit_lowers_the_loss(mlp, xor_loader):
    before = evaluate(mlp, xor_loader)["loss"]
    hist = fit(mlp, xor_loader, epochs=15, lr=1e-2, valid_dl=xor_loader, progress=False)
    assert hist.last("valid_loss") < 0.5 * before
    assert hist.last("valid_acc") > 0.8  # XOR is not linearly separable: the hidden layer learned it
    assert len(hist.loss) == len(hist.lrs) == 15 * len(xor_loader)


def test_onecycle_warms_up_then_anneals(mlp, xor_loader):
    hist = fit(mlp, xor_loader, epochs=4, lr=1e-2, progress=False)
    lrs = [s[0] for s in hist.lrs]
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert 0 < peak < len(lrs) - 1 and lrs[0] < 1e-2 / 10 and lrs[-1] < 1e-2 / 100


def test_callback_can_stop_and_sees_state(mlp, xor_loader):
    seen = []
    stop = lambda ev, s: seen.append((ev, s.step)) or ("stop" if s.step == 3 else None)
    hist = fit(mlp, xor_loader, epochs=5, callbacks=[stop], progress=False)
    assert len(hist.loss) == 3 and seen[-1] == ("step", 3)


def test_fit_accepts_dict_batches():
    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x, labels=None):
            logits = self.lin(x)
            return type("Out", (), {"logits": logits, "loss": nn.functional.cross_entropy(logits, labels)})()

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    batches = [{"x": x[i:i + 16], "labels": (x[i:i + 16, 0] > 0).long()} for i in range(0, 64, 16)]
    model = Toy()
    hist = fit(model, batches, epochs=20, lr=5e-2, progress=False)
    assert hist.loss[-1] < hist.loss[0]
    assert evaluate(model, batches)["acc"] > 0.8


def test_sequence_cross_entropy_flattens():
    logits, y = torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))
    assert cross_entropy(logits, y) == pytest.approx(nn.functional.cross_entropy(logits.reshape(10, 7), y.reshape(10)).item())


def test_errors_say_what_to_do(mlp, xor_loader):
    with pytest.raises(ValueError, match="empty"):
        fit(mlp, [], progress=False)
    freeze(mlp)
    with pytest.raises(ValueError, match="Unfreeze"):
        fit(mlp, xor_loader, progress=False)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="Unknown schedule"):
        make_scheduler(opt, "triangle", 10)


def test_seeded_runs_repeat():
    x, y = torch.randn(32, 10), torch.randint(0, 2, (32,))
    runs = []
    for _ in range(2):
        seed_everything(1)
        model = nn.Sequential(nn.Linear(10, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 2))
        runs.append(fit(model, [(x, y)] * 3, progress=False).loss)
    assert runs[0] == runs[1]


def test_history_continues_across_stages(mlp, xor_loader):
    hist = fit(mlp, xor_loader, epochs=1, progress=False)
    fit(mlp, xor_loader, epochs=1, history=hist, progress=False)
    assert [e["epoch"] for e in hist.epochs] == [1, 2] and len(hist.loss) == 2 * len(xor_loader)
    assert History().seconds == 0


def test_callbacks_see_start_step_epoch_in_order(mlp, xor_loader):
    events = []
    fit(mlp, xor_loader, epochs=2, lr=1e-2, progress=False, callbacks=[lambda e, s: events.append((e, s.step))])
    steps = len(xor_loader)
    assert events[0] == ("start", 0)
    assert [e for e, _ in events].count("step") == 2 * steps
    assert events[steps + 1] == ("epoch", steps) and events[-1] == ("epoch", 2 * steps)


def test_stop_at_start_trains_nothing(mlp, xor_loader):
    before = [p.clone() for p in mlp.parameters()]
    hist = fit(mlp, xor_loader, epochs=1, progress=False, callbacks=[lambda e, s: "stop" if e == "start" else None])
    assert hist.loss == [] and all(torch.equal(a, b) for a, b in zip(before, mlp.parameters()))


def test_plot_lrs_lines_up_stages_by_group_name(mlp, xor_loader):
    import matplotlib
    matplotlib.use("Agg")
    from ftlab.freeze import freeze_to, param_groups, unfreeze
    from ftlab.plots import plot_history, plot_lrs

    groups = [mlp[0], mlp[2]]
    freeze_to(groups, -1)
    hist = fit(mlp, xor_loader, epochs=1, params=param_groups(groups, 1e-2), progress=False)  # the head alone
    unfreeze(mlp)
    fit(mlp, xor_loader, epochs=1, params=param_groups(groups, slice(1e-4, 1e-3)), history=hist, progress=False)
    assert hist.group_names[0] == ["group 1"] and hist.group_names[-1] == ["group 0", "group 1"]
    ax = plot_lrs(hist, ["body", "head"])
    assert [line.get_label() for line in ax.lines] == ["body", "head"]
    body, head = ax.lines[0].get_ydata(), ax.lines[1].get_ydata()
    assert len(body) == 2 * len(xor_loader) and np.isnan(body[0]) and not np.isnan(body[-1])
    assert not np.isnan(head).any()  # the head trains in both stages: one unbroken line
    with pytest.raises(ValueError, match="one name per group"):
        param_groups(groups, 1e-3, names=["only one"])
    ax = plot_history({"run": hist}, smooth=4)
    assert ax.lines[0].get_xdata()[0] == 4 and ax.lines[0].get_xdata()[-1] == len(hist.loss)  # x in steps


def test_fit_passes_several_targets_to_the_loss(mlp, xor_loader):
    # (x, teacher_logits, labels) batches, as in distillation: loss_fn gets [teacher_logits, labels]
    teacher = nn.Linear(10, 2)
    batches = [(x, teacher(x).detach(), y) for x, y in xor_loader]
    seen = []

    def loss_fn(logits, targets):
        t, y = targets
        seen.append((t.shape, y.shape))
        return cross_entropy(logits, y) + nn.functional.mse_loss(logits, t)

    hist = fit(mlp, batches, epochs=3, lr=1e-2, loss_fn=loss_fn, progress=False)
    assert len(seen) == 3 * len(batches) and seen[0] == ((32, 2), (32,))
    assert hist.loss[-1] < hist.loss[0]
    with pytest.raises(ValueError, match="inputs and targets"):
        fit(mlp, [(torch.randn(4, 10),)], progress=False)


# --- the device rule: ftlab never moves a model; batches follow the model -----------------------

def test_fit_and_predict_leave_the_model_where_it_is(mlp, xor_loader, monkeypatch):
    from ftlab import train

    moves = []
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: moves.append(a) or self)
    train.fit(mlp, xor_loader, epochs=1, progress=False)
    train.predict(mlp, xor_loader)
    train.evaluate(mlp, xor_loader, device="cpu")
    assert moves == []  # not even a no-op .to(): the model is never moved by ftlab
    assert train.model_device(mlp) == torch.device("cpu")


def test_batches_follow_the_model(mlp, xor_loader):
    from ftlab import train

    seen = []
    hook = mlp[0].register_forward_pre_hook(lambda m, inp: seen.append(inp[0].device))
    train.predict(mlp, xor_loader)
    hook.remove()
    assert set(seen) == {torch.device("cpu")}
    assert train.to_device({"a": torch.ones(1), "n": 3}, torch.device("cpu"))["n"] == 3


def test_device_mismatch_is_a_clear_error(mlp, xor_loader):
    from ftlab import train

    mlp.to("meta")  # a device other than the CPU that every machine has
    with pytest.raises(ValueError, match=r"model.to\('cpu'\)"):
        train.fit(mlp, xor_loader, device="cpu", progress=False)
    assert train.run_device(mlp) == torch.device("meta")
    assert train._same_device(torch.device("cuda"), torch.device("cuda:0"))
    assert not train._same_device(torch.device("cuda:0"), torch.device("cuda:1"))


def test_default_device_honours_env(monkeypatch):
    from ftlab import train

    monkeypatch.setenv("FTLAB_DEVICE", "cpu")
    assert train.default_device() == torch.device("cpu")


def test_seed_everything_fixes_threads_and_repeats(mlp, monkeypatch):
    from ftlab import train

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("FTLAB_THREADS", "1")
        assert train.seed_everything(0) == 1 and torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
        a = torch.randn(3)
        train.seed_everything(0)
        assert torch.equal(a, torch.randn(3))
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(False)


def test_onecycle_any_number_of_steps():
    from ftlab import train

    for steps in (1, 2, 3, 4, 5, 7):
        hist = train.fit(nn.Linear(4, 2), [(torch.randn(1, 4), torch.tensor([0]))] * steps, progress=False)
        assert len(hist.loss) == steps


def test_dense_logits_cross_entropy_and_pixel_accuracy():
    import torch.nn.functional as F

    from ftlab import train

    logits, y = torch.randn(2, 3, 4, 5), torch.randint(0, 3, (2, 4, 5))
    assert torch.allclose(train.cross_entropy(logits, y), F.cross_entropy(logits, y))
    res = train.evaluate(nn.Identity(), [(logits, y)])
    assert abs(res["acc"] - (logits.argmax(1) == y).float().mean().item()) < 1e-7


def test_predict_without_labels_and_evaluate_refuses_them():
    from torch.utils.data import DataLoader, TensorDataset

    from ftlab import train

    model = nn.Linear(4, 3)
    x = torch.randn(10, 4)
    for dl in (DataLoader(TensorDataset(x), batch_size=4), [x[:5], x[5:]]):  # (x,) batches, bare tensors
        logits, y = train.predict(model, dl)
        assert logits.shape == (10, 3) and y is None
    with pytest.raises(ValueError, match="labelled batches"):
        train.evaluate(model, DataLoader(TensorDataset(x), batch_size=4))
    logits, y = train.predict(model, DataLoader(TensorDataset(x, torch.zeros(10, dtype=torch.long)), batch_size=4))
    assert y.shape == (10,)


def test_fit_under_bf16_autocast_keeps_fp32_weights(mlp, xor_loader):
    from ftlab.train import fast_bf16

    before = evaluate(mlp, xor_loader)["loss"]
    hist = fit(mlp, xor_loader, epochs=15, lr=1e-2, progress=False, autocast=torch.bfloat16)
    assert all(p.dtype == torch.float32 for p in mlp.parameters())  # mixed precision: only the compute is bf16
    assert evaluate(mlp, xor_loader)["loss"] < 0.5 * before and len(hist.loss) == 15 * len(xor_loader)
    assert fast_bf16("meta") is False and isinstance(fast_bf16("cpu"), bool)
