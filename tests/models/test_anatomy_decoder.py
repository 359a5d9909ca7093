"""Anatomy decoder: sinusoidal keys, single query, shapes."""

import math

import torch

from radkit.models.anatomy_decoder import AnatomyDecoder, sinusoidal_positions


def test_sinusoidal_positions_by_hand():
    pe = sinusoidal_positions((3,), 4)
    # position p: [sin(p), cos(p), sin(p/100), cos(p/100)]  (10000^(2/4) = 100)
    expect = torch.tensor([[math.sin(p), math.cos(p), math.sin(p / 100), math.cos(p / 100)] for p in range(3)])
    torch.testing.assert_close(pe, expect)
    pe2 = sinusoidal_positions((2, 3), 8)  # 4 channels per axis, row-major grid
    torch.testing.assert_close(pe2[4, :4], sinusoidal_positions((2,), 4)[1])  # (1, 1): x=1
    torch.testing.assert_close(pe2[4, 4:], sinusoidal_positions((3,), 4)[1])  # y=1


def test_decoder_shapes_norm_and_query_dependence():
    torch.manual_seed(0)
    dec = AnatomyDecoder(token_dim=12, dim=16, layers=2, heads=4, ffn_dim=32, dropout=0.0).eval()
    tokens = torch.randn(2, 6, 12)
    q = torch.randn(2, 16)
    out, maps = dec(q, tokens, (2, 3), return_attention=True)
    assert out.shape == (2, 16) and len(maps) == 2 and maps[0].shape == (2, 1, 6)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(2, 1))
    assert not torch.allclose(dec(torch.randn(2, 16), tokens, (2, 3)), out)
    # the keys carry positions: permuting tokens changes the output
    assert not torch.allclose(dec(q, tokens.flip(1), (2, 3)), out)
