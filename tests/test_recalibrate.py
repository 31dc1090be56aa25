"""recalibrate against closed form: afterwards every BN's running_mean/var are the means of the per-batch means
and unbiased variances of its input, computed here by hand layer by layer; weights and mode are untouched."""

import torch
from torch import nn

from bnviz.recalibrate import eval_accuracy, recalibrate, recalibration_gain, train_mode_accuracy


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5, momentum=0.3), nn.ReLU(), nn.Linear(5, 4),
                         nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))


def _bn(x, layer):  # BatchNorm in training, by hand: biased variance normalizes
    mean, var = x.mean(0), x.var(0, unbiased=False)
    return (x - mean) / torch.sqrt(var + layer.eps) * layer.weight + layer.bias


def test_running_stats_are_the_cumulative_average_of_per_batch_stats():
    model = _model()
    model(torch.randn(16, 6) * 3)  # some EMA history that recalibration must forget
    model.eval()
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    g = torch.Generator().manual_seed(1)
    batches = [torch.randn(8, 6, generator=g) * 2 + 0.5 for _ in range(7)]
    recalibrate(model, batches)
    stats = {1: ([], []), 4: ([], [])}
    with torch.no_grad():
        for x in batches:
            h = model[0](x)
            stats[1][0].append(h.mean(0)), stats[1][1].append(h.var(0, unbiased=True))
            h = model[3](torch.relu(_bn(h, model[1])))
            stats[4][0].append(h.mean(0)), stats[4][1].append(h.var(0, unbiased=True))
    for i, (means, variances) in stats.items():
        torch.testing.assert_close(model[i].running_mean, torch.stack(means).mean(0))
        torch.testing.assert_close(model[i].running_var, torch.stack(variances).mean(0))
        assert model[i].num_batches_tracked.item() == len(batches)
    assert model[1].momentum == 0.3 and model[4].momentum == 0.1  # restored
    assert not model.training
    for k, v in weights.items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=0, atol=0)


def test_recalibration_fixes_a_model_with_broken_running_stats():
    torch.manual_seed(0)
    x = torch.randn(600, 6)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    model = _model()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for i in range(300):
        batch = slice(i % 20 * 30, i % 20 * 30 + 30)
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad(), loss.backward(), opt.step()
    for m in (model[1], model[4]):  # what momentum=0 does: running stats frozen at their initial 0 / 1
        m.running_mean.fill_(5.0), m.running_var.fill_(0.01)
    train_mode = train_mode_accuracy(model, x, y, 30)
    gain = recalibration_gain(model, x, x, y, batch_size=30, n_batches=40)
    assert gain["before"] == eval_accuracy(model, x, y)  # the original keeps its broken statistics
    assert gain["before"] < train_mode - 0.2
    assert gain["after"] >= train_mode - 0.05  # back at (or above) what batch statistics give
    assert model[1].running_mean[0].item() == 5.0
