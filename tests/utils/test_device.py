import pytest
import torch

from utils.device import parse_device_ids, select_device
from utils.errors import UserError


def test_cpu_and_default():
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("").type == expected


def test_device_ids_parsed():
    assert parse_device_ids("0,1") == [0, 1]
    with pytest.raises(UserError, match="expected 'cpu'"):
        parse_device_ids("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_requested_without_cuda_is_clear():
    with pytest.raises(UserError, match="CUDA is not available"):
        select_device("0")
    with pytest.raises(UserError, match="CUDA is not available"):
        select_device("0,1")
