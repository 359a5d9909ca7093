"""Losses vs hand-computed values, gradcheck, and the 2-process gather-with-gradient equivalence."""

import math

import pytest
import torch
import torch.multiprocessing as mp

from radkit.losses import Stage1Loss, gap_weighted_ranking_loss, masked_infonce, soft_ranking_loss

S = torch.tensor([[1.0, 0.8, 0.1], [0.8, 1.0, 0.2], [0.1, 0.2, 1.0]], dtype=torch.float64)
L = torch.tensor([[1.0, 0.5, 0.2], [0.3, 2.0, 0.1], [0.0, 0.4, 1.5]], dtype=torch.float64)


def sp(x):
    return math.log1p(math.exp(x))


def test_masked_infonce_by_hand():
    t = 0.1
    e = lambda x: math.exp(x / t)  # noqa: E731
    # row 0: column 1 is another positive (0.8 >= 0.75) -> out of the denominator; likewise row 1 col 0
    l0 = -math.log(e(1.0) / (e(1.0) + e(0.2)))
    l1 = -math.log(e(2.0) / (e(2.0) + e(0.1)))
    l2 = -math.log(e(1.5) / (e(0.0) + e(0.4) + e(1.5)))
    got = masked_infonce(L, S, torch.arange(3), 0.75, t)
    assert got.item() == pytest.approx((l0 + l1 + l2) / 3, rel=1e-12)
    plain = masked_infonce(L, S, torch.arange(3), None, 1.0)  # plain InfoNCE (clip baseline)
    ref = sum(-math.log(math.exp(L[i, i]) / sum(math.exp(v) for v in L[i])) for i in range(3)) / 3
    assert plain.item() == pytest.approx(ref, rel=1e-12)


# valid (j, k) per anchor for S above with Δ=0.25, pos>0.75, no negative constraint (enumerated by hand)
TRIPLETS = {0: [(0, 2), (1, 2)], 1: [(1, 2), (0, 2)], 2: [(2, 0), (2, 1)]}


def test_soft_ranking_by_hand():
    q = L * math.e
    mu, t = 0.1, 0.07
    per = [sum(sp(max((q[i, k] - q[i, j]).item() + mu, 1e-8) / t) for j, k in TRIPLETS[i]) / 2 for i in range(3)]
    assert soft_ranking_loss(q, S).item() == pytest.approx(sum(per) / 3, rel=1e-12)


def test_soft_ranking_anchor_without_triplets_counts_zero():
    sim = torch.tensor([[1.0, 0.9], [0.9, 1.0]], dtype=torch.float64)  # no gap > 0.25 anywhere
    assert soft_ranking_loss(torch.randn(2, 2, dtype=torch.float64), sim).item() == 0.0


def test_gap_weighted_by_hand():
    p = torch.tanh(L)[None]
    sim = S.clone()
    sim[0, 1] = 0.5  # asymmetric: symmetrised by max back to 0.8
    mu, t = 0.1, 0.07
    per = []
    for i in range(3):
        per.append(sum(sp(max((p[0, i, k] - p[0, i, j]).item() + mu, 1e-8) * (S[i, j] - S[i, k]).item() / t)
                       for j, k in TRIPLETS[i]) / 2)
    # second group: no valid anchor -> contributes 0 to the mean over groups
    p2 = torch.cat([p, torch.zeros_like(p)])
    s2 = torch.stack([sim, torch.full_like(sim, 0.5)])
    assert gap_weighted_ranking_loss(p2, s2).item() == pytest.approx(sum(per) / 3 / 2, rel=1e-12)


def test_gradcheck():
    torch.manual_seed(0)
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    sim = torch.rand(4, 5, dtype=torch.float64)
    sim[torch.arange(4), torch.arange(4)] = 1.0
    assert torch.autograd.gradcheck(lambda z: masked_infonce(z, sim, torch.arange(4)), (x,))
    assert torch.autograd.gradcheck(lambda z: soft_ranking_loss(z, sim), (x,))
    p = torch.randn(2, 4, 4, dtype=torch.float64, requires_grad=True)
    s = torch.rand(2, 4, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda z: gap_weighted_ranking_loss(z, s), (p,))


def _features(seed=0, n=6, d=8):
    g = torch.Generator().manual_seed(seed)
    img = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    sim = torch.rand(n, n, generator=g, dtype=torch.float64)
    sim = torch.maximum(sim, sim.T)
    sim.fill_diagonal_(1.0)
    return img, txt, sim


def _worker(rank, world, init_file, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    img, txt, sim = _features()
    b = img.shape[0] // world
    sl = slice(rank * b, (rank + 1) * b)
    li, lt = img[sl].clone().requires_grad_(), txt[sl].clone().requires_grad_()
    theta = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    out = Stage1Loss()(li, lt, theta.exp(), sim[sl])
    out["loss"].backward()
    torch.save({"loss": out["loss"].detach(), "gi": li.grad, "gt": lt.grad, "gs": theta.grad},
               f"{out_dir}/r{rank}.pt")
    dist.destroy_process_group()


def test_two_process_gather_matches_single_process(tmp_path):
    img, txt, sim = _features()
    i1, t1 = img.clone().requires_grad_(), txt.clone().requires_grad_()
    theta = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    ref = Stage1Loss()(i1, t1, theta.exp(), sim)
    assert ref["rank"] > 0 and ref["infonce"] > 0
    ref["loss"].backward()
    # A 2-process gloo rendezvous can fail for reasons outside the code under test on a loaded
    # 2-core machine (seen about once in 5 full-suite runs, never alone); retry the launch up to
    # twice, whatever it raised (the numerical checks below are never retried).
    for attempt in range(3):
        run = tmp_path / f"attempt{attempt}"
        run.mkdir()
        try:
            mp.spawn(_worker, args=(2, str(run / "init"), str(run)), nprocs=2, join=True)
            break
        except Exception:
            if attempt == 2:
                raise
    r = [torch.load(run / f"r{k}.pt", weights_only=True) for k in range(2)]
    # global mean loss = mean of the per-rank losses (equal local batches)
    torch.testing.assert_close((r[0]["loss"] + r[1]["loss"]) / 2, ref["loss"].detach())
    # feature grads: each rank holds the sum over ranks; DDP's 1/W averaging gives the global gradient
    torch.testing.assert_close(torch.cat([r[0]["gi"], r[1]["gi"]]) / 2, i1.grad)
    torch.testing.assert_close(torch.cat([r[0]["gt"], r[1]["gt"]]) / 2, t1.grad)
    torch.testing.assert_close((r[0]["gs"] + r[1]["gs"]) / 2, theta.grad)
