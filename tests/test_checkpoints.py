import argparse
import io
import json
import os
import pickle
import pickletools
import re
import subprocess
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from ckpt_factory import (TINY, EasyDict, PersistencePickler, legacy_torch_blob, max_diff, nvlabs_bytes,
                          nvlabs_modules, one_torch_thread,
                          outputs,
                          rosinality_forward,
                          stylegan3_shaped_generator, tiny_generator, to_rosinality, write_nvlabs_pickle)
from live.errors import UserError
from live.torch_files import LEGACY_TORCH_MAGIC, check_torch_file, load_torch_file
from live.nets.checkpoints import (FORMAT_LIVE, FORMAT_NVLABS, FORMAT_ROSINALITY, MAX_LATENT_DIM, load_generator,
                                   save_generator)
from live.nets.unpickle import read_network_pickle

pytestmark = pytest.mark.usefixtures(one_torch_thread.__name__)


@pytest.fixture(scope="module")
def G():
    return tiny_generator(0)


@pytest.fixture(scope="module")
def expected(G):
    return outputs(G)


# ---------------------------------------------------------------- NVlabs pickles

def test_factory_pickle_has_the_nvlabs_reduce_structure(G):
    data = nvlabs_bytes(dict(G=None, D=None, G_ema=G, augment_pipe=None), protocol=3)
    names = {arg for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}
    assert names == {"torch_utils.persistence _reconstruct_persistent_obj", "dnnlib.util EasyDict",
                     "collections OrderedDict", "builtins set", "torch._utils _rebuild_parameter",
                     "torch._utils _rebuild_tensor_v2", "torch.storage _load_from_bytes"}


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_nvlabs_pickle_loads_to_the_native_outputs_without_running_its_source(tmp_path, G, expected, protocol):
    marker = tmp_path / "module_src_ran"
    source = f"open({str(marker)!r}, 'w').close()\n"
    path = write_nvlabs_pickle(tmp_path / "network.pkl", G_ema=G, G=tiny_generator(1), protocol=protocol,
                               module_src=source)
    assert source.encode() in path.read_bytes()
    loaded, info = load_generator(path)
    assert max_diff(outputs(loaded), expected) < 1e-5  # G_ema, not G
    assert info.format == FORMAT_NVLABS and info.stored_dtype == "float32"
    assert not marker.exists()


def test_numpy_1_scalar_spelling_is_read_as_data(G):
    """Pickles written with numpy 1.x name numpy.core.multiarray.scalar."""
    data = nvlabs_bytes(dict(G_ema=G, training_set_kwargs=EasyDict(max_size=np.int64(5000))), protocol=3)
    old = data.replace(b"cnumpy._core.multiarray\nscalar", b"cnumpy.core.multiarray\nscalar")
    assert old.count(b"numpy.core.multiarray") == 1
    snapshot = read_network_pickle(io.BytesIO(old), "old.pkl")
    assert snapshot["training_set_kwargs"]["max_size"] == 5000
    b4 = snapshot["G_ema"].state["_modules"]["synthesis"].state["_modules"]["b4"]
    assert torch.equal(b4.state["_parameters"]["const"], G.synthesis.b4.const)


def test_storage_saved_from_a_gpu_is_read_as_data():
    values = torch.arange(6.0)
    _, (blob,) = values._typed_storage().__reduce__()
    assert blob.count(b"ctorch\nFloatStorage") == 1
    blob = blob.replace(b"ctorch\nFloatStorage", b"ctorch.cuda\nFloatStorage")
    tensor = Reduce(torch._utils._rebuild_tensor_v2, Reduce(torch.storage._load_from_bytes, blob),
                    2, (2, 2), (1, 2), False, OrderedDict())
    loaded = read_network_pickle(io.BytesIO(pickle.dumps(tensor, protocol=4)), "gpu.pkl")
    assert torch.equal(loaded, values[2:].as_strided((2, 2), (1, 2)))


def test_nvlabs_pickle_without_G_ema_uses_G_and_says_so(tmp_path, G, expected, capsys):
    path = write_nvlabs_pickle(tmp_path / "g.pkl", G_ema=None, G=G)
    loaded, info = load_generator(path)
    assert max_diff(outputs(loaded), expected) < 1e-5
    assert info.notes == ("the file has no G_ema (the smoothed generator): its training G is read",)
    assert load_generator(write_nvlabs_pickle(tmp_path / "both.pkl", G_ema=G, G=G))[1].notes == ()
    from live.__main__ import main

    assert main(["generate", "--network", str(path), "--seeds", "0", "--outdir", str(tmp_path / "out")]) == 0
    assert "its training G is read" in capsys.readouterr().err  # a command that loads it says so too


def test_nvlabs_pickle_without_generator_is_refused(tmp_path):
    with pytest.raises(UserError, match="neither G_ema nor G"):
        load_generator(write_nvlabs_pickle(tmp_path / "d.pkl", G_ema=None, G=None))


def test_layout_only_and_flat_stylegan3_repo_arguments_are_accepted(tmp_path, G, expected):
    ada = {**G.init_kwargs, "synthesis_kwargs": {**G.init_kwargs["synthesis_kwargs"], "fp16_channels_last": True}}
    flat = {k: v for k, v in G.init_kwargs.items() if k != "synthesis_kwargs"}
    flat.update(G.init_kwargs["synthesis_kwargs"], fused_modconv_default="inference_only")
    for name, kwargs in (("ada", ada), ("flat", flat)):
        path = write_nvlabs_pickle(tmp_path / f"{name}.pkl", G_ema=G, init_kwargs={id(G): kwargs})
        loaded, _ = load_generator(path)
        assert max_diff(outputs(loaded), expected) < 1e-5
        assert "fp16_channels_last" not in json.dumps(loaded.init_kwargs)


def test_unknown_generator_argument_is_refused_by_name(tmp_path, G):
    kwargs = {**G.init_kwargs, "synthesis_kwargs": {**G.init_kwargs["synthesis_kwargs"], "magic_gain": 2}}
    path = write_nvlabs_pickle(tmp_path / "odd.pkl", G_ema=G, init_kwargs={id(G): kwargs})
    with pytest.raises(UserError, match="magic_gain"):
        load_generator(path)


def test_odd_stored_arguments_are_one_line_without_the_file_s_control_characters(tmp_path, G):
    class NumberArgsPickler(PersistencePickler):  # numpy's == against () gave an array: ValueError
        def reducer_override(self, obj):
            reduced = super().reducer_override(obj)
            if type(obj).__name__ == "Generator":
                reduced[1][0]["state"]["_init_args"] = np.float32(1.0)
            return reduced

    path = tmp_path / "args.pkl"
    with nvlabs_modules(), path.open("wb") as f:
        NumberArgsPickler(f, 4, "", {id(G): G.init_kwargs}).dump(dict(G_ema=G))
    kwargs = {**G.init_kwargs, "synthesis_kwargs": {**G.init_kwargs["synthesis_kwargs"], "bad\nkwarg\x1b[2J": 1}}
    odd = write_nvlabs_pickle(tmp_path / "odd.pkl", G_ema=G, init_kwargs={id(G): kwargs})
    for file, message in ((path, "not stored as keywords"),
                          (odd, r"unknown generator arguments 'bad\\nkwarg\\x1b\[2J'")):
        with pytest.raises(UserError, match=message) as caught:
            load_generator(file)
        assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


def test_weights_that_do_not_fit_the_stored_arguments_are_refused(tmp_path, G):
    kwargs = {**G.init_kwargs, "synthesis_kwargs": {"channel_base": 1024, "channel_max": 64}}
    path = write_nvlabs_pickle(tmp_path / "mismatch.pkl", G_ema=G, init_kwargs={id(G): kwargs})
    with pytest.raises(UserError, match=r"do not fit .*synthesis\.b16"):
        load_generator(path)


def test_stylegan3_pickle_is_refused(tmp_path):
    G3 = stylegan3_shaped_generator()
    kwargs = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs={},
                  channel_base=32768, magnitude_ema_beta=0.999)
    path = write_nvlabs_pickle(tmp_path / "sg3.pkl", G_ema=G3, init_kwargs={id(G3): kwargs})
    with pytest.raises(UserError, match="StyleGAN3 checkpoints are not supported"):
        load_generator(path)


# ---------------------------------------------------------------- hostile pickles

class Reduce:
    """An object that pickles as fn(*args)."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _os_system_pickle(command: str) -> bytes:
    """`os.system(command)` spelled with module `os` (pickle itself would write `posix`)."""
    args = pickle.dumps((command,), protocol=3)[2:-1]  # without PROTO and STOP
    return b"\x80\x03cos\nsystem\n" + args + b"R."


def hostile(kind: str, marker) -> tuple[bytes, str]:
    """(pickle bytes whose payload creates `marker`, the global our loader must name)."""
    code = f"open({str(marker)!r}, 'w').close()"
    shell = f"touch '{marker}'"
    if kind == "os.system":
        return _os_system_pickle(shell), "os.system"
    if kind == "posix.system":
        return pickle.dumps(dict(G_ema=Reduce(os.system, shell)), protocol=4), "posix.system"
    if kind == "builtins.eval":
        return pickle.dumps(dict(G_ema=Reduce(eval, code)), protocol=4), "builtins.eval"
    if kind == "builtins.exec":
        return pickle.dumps([Reduce(exec, code)], protocol=3), "builtins.exec"
    if kind == "subprocess.Popen":
        return pickle.dumps(dict(G=Reduce(subprocess.Popen, ["touch", str(marker)])), protocol=4), "subprocess.Popen"
    assert kind == "nested blob"
    blob = legacy_torch_blob(Reduce(os.system, shell))
    storage = Reduce(torch.storage._load_from_bytes, blob)
    tensor = Reduce(torch._utils._rebuild_tensor_v2, storage, 0, (1,), (1,), False, OrderedDict())
    return pickle.dumps(dict(G_ema=tensor), protocol=4), "posix.system"


HOSTILE = ["os.system", "posix.system", "builtins.eval", "builtins.exec", "subprocess.Popen", "nested blob"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_pickle_is_refused_naming_the_global_and_never_runs(tmp_path, kind):
    marker = tmp_path / "pwned"
    data, name = hostile(kind, marker)
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UserError, match=rf"references {re.escape(name)}, which is not data"):
        load_generator(path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_payloads_are_live_under_plain_pickle(tmp_path, kind):
    """The refusal above means something: unrestricted unpickling runs each payload."""
    marker = tmp_path / "pwned"
    try:
        result = pickle.loads(hostile(kind, marker)[0])
    except AttributeError:  # torch sees that the "storage" is os.system's exit code, after the fact
        assert kind == "nested blob"
    else:
        if kind == "subprocess.Popen":
            result["G"].wait()
    assert marker.exists()


def test_hostile_rosinality_file_is_refused_naming_the_global(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "latent_avg": Reduce(eval, f"open({str(marker)!r}, 'w').close()")}, path)
    with pytest.raises(UserError, match=r"references (builtins\.)?eval, which is not data"):
        load_generator(path)
    assert not marker.exists()


def test_a_bare_nvlabs_state_dict_asks_for_the_pickle_it_came_from(tmp_path, G):
    path = tmp_path / "statedict.pt"
    torch.save(G.state_dict(), path)  # as one takes the weights out of a network (review 98)
    with pytest.raises(UserError, match=re.escape(f"{path} holds an NVlabs generator's weights without the "
                                                  "arguments that built it (a state_dict); give the network pickle")):
        load_generator(path)
    torch.save({"something": torch.ones(2)}, path)
    with pytest.raises(UserError, match="not a rosinality StyleGAN2 checkpoint"):
        load_generator(path)


def test_tensor_view_beyond_its_storage_is_refused(tmp_path):
    storage = torch.ones(4)._typed_storage()
    tensor = Reduce(torch._utils._rebuild_tensor_v2, storage, 0, (1000,), (1,), False, OrderedDict())
    path = tmp_path / "oob.pkl"
    path.write_bytes(pickle.dumps(dict(G_ema=tensor), protocol=4))
    with pytest.raises(UserError, match="reaches past its storage"):
        load_generator(path)


class Build(Reduce):
    """An object that pickles as fn(*args), then gets `state` through BUILD (its __setstate__)."""

    def __init__(self, fn, args, state):
        super().__init__(fn, *args)
        self.state = state

    def __reduce__(self):
        return self.fn, self.args, self.state


def test_a_numpy_dtype_whose_state_places_fields_outside_its_bytes_is_refused():
    # numpy's own __setstate__ accepts a field 1 TiB past an 8-byte item; reading it segfaulted.
    state = (3, "|", None, ("a",), {"a": (np.dtype("<f8"), 1 << 40)}, 8, 1, 16)
    for spec, refusal in (("V8", "not a plain number type"), ("f8", "state of a structured type")):
        dtype = Build(np.dtype, (spec, False, True), state)
        payload = pickle.dumps(dict(G_ema=Reduce(np._core.multiarray.scalar, dtype, b"\0" * 8)), protocol=2)
        with pytest.raises(UserError, match=refusal):
            read_network_pickle(io.BytesIO(payload), "x.pkl")
    plain = pickle.dumps(dict(beta=np.float64(0.995), n=np.int32(7)), protocol=4)  # numbers still load
    assert read_network_pickle(io.BytesIO(plain), "y.pkl") == dict(beta=0.995, n=7)


def test_state_set_on_anything_but_a_dtype_is_refused():
    payload = pickle.dumps(dict(G_ema=Build(OrderedDict, (), {"x": 1})), protocol=4)
    with pytest.raises(UserError, match="BUILD"):
        read_network_pickle(io.BytesIO(payload), "x.pkl")


@pytest.mark.parametrize("container", [set, frozenset, OrderedDict, EasyDict])
def test_containers_built_from_a_tensor_s_elements_are_refused(container):
    """A few stored bytes seen through a zero stride would become millions of objects."""
    spread = torch.zeros(1).expand(1 << 20)
    with nvlabs_modules():
        payload = pickle.dumps(dict(G_ema=Reduce(container, spread)), protocol=4)
        plain = pickle.dumps(dict(G_ema=Reduce(container, torch.zeros(3, 2))), protocol=4)
    with pytest.raises(UserError, match="reaches past its storage"):
        read_network_pickle(io.BytesIO(payload), "x.pkl")
    payload = plain
    with pytest.raises(UserError, match="built from (a Tensor|arguments, not from items)"):
        read_network_pickle(io.BytesIO(payload), "x.pkl")


def test_a_pickle_cut_inside_a_number_is_one_line():
    with pytest.raises(UserError, match="truncated or not a valid NVlabs network pickle"):
        read_network_pickle(io.BytesIO(b"\x80\x04J\x01"), "cut.pkl")  # BININT with 1 of its 4 bytes


def test_a_refused_global_s_name_cannot_forge_lines_or_drive_the_terminal(tmp_path):
    module = "os\nlive: error: all is fine\x1b]0;title\x07" + "x" * 10_000
    path = tmp_path / "escape.pkl"
    path.write_bytes(b"\x80\x04" + pickle.dumps(module, protocol=4)[2:-1] + b"\x8c\x06system\x93.")  # STACK_GLOBAL
    with pytest.raises(UserError) as caught:
        load_generator(path)
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 400
    assert "references 'os\\nlive: error:" in message


def test_a_refused_value_is_described_not_printed():
    shared: list = ["x" * 100]
    for _ in range(40):  # 2^40 strings when printed as a tree, 40 memo entries in the file
        shared = [shared, shared]
    with nvlabs_modules():
        payload = pickle.dumps(dict(G_ema=Reduce(np.dtype, shared)), protocol=4)
    with pytest.raises(UserError, match="numpy dtype a list is not a plain number type"):
        read_network_pickle(io.BytesIO(payload), "bomb.pkl")


def test_one_stored_object_built_again_and_again_is_refused():
    """Through the memo a file hands the same bytes to a constructor for 5 bytes a call."""
    blob = torch.arange(1 << 16, dtype=torch.float32)._typed_storage().__reduce__()[1][0]
    payload = pickle.dumps([Reduce(torch.storage._load_from_bytes, blob) for _ in range(200)], protocol=4)
    assert payload.count(blob) == 1 and len(payload) < len(blob) + 10_000  # the blob once, 200 calls on it
    with pytest.raises(UserError, match="add up to far more than the file holds"):
        read_network_pickle(io.BytesIO(payload), "memo.pkl")


def test_objects_made_by_calls_are_charged_even_when_empty():
    """An empty view costs no weight bytes, but each is an object with its sizes and strides
    (1 MB of them took 3.9 GB); a few bytes of the file through the memo make one more."""
    storage = torch.zeros(4)._typed_storage()
    args = (storage, 0, (0,), (1,), False, OrderedDict())
    payload = pickle.dumps([Reduce(torch._utils._rebuild_tensor_v2, *args) for _ in range(150_000)], protocol=4)
    assert len(payload) < 20 * 150_000  # pickle writes each call in 18 bytes
    with pytest.raises(UserError, match="add up to far more than the file holds"):
        read_network_pickle(io.BytesIO(payload), "empty.pkl")
    deep = pickle.dumps(Reduce(torch._utils._rebuild_tensor_v2, storage, 0, (0,) * 1000, (1,) * 1000, False,
                               OrderedDict()), protocol=4)
    with pytest.raises(UserError, match="a tensor of 1000 dimensions is not a weight"):
        read_network_pickle(io.BytesIO(deep), "deep.pkl")


@pytest.mark.parametrize("opcodes", [pickle.EMPTY_SET, pickle.EMPTY_DICT + pickle.MEMOIZE])
def test_every_opcode_is_charged_not_only_calls(opcodes):
    """A byte of EMPTY_SET makes a 216-byte set: 10 MB of them took 2.3 GB."""
    count = 2_000_000 // len(opcodes)
    payload = b"\x80\x04]" + pickle.MARK + opcodes * count + pickle.APPENDS + pickle.STOP
    with pytest.raises(UserError, match="add up to far more than the file holds"):
        read_network_pickle(io.BytesIO(payload), "flood.pkl")


def test_a_storage_blob_s_header_is_charged_at_each_call_on_it():
    """The blob is parsed again at each call on it through the memo: a header padded with
    500,000 opcodes before an empty storage took 0.25 s a call, hours for a 1.4 MB file."""
    blob = torch.zeros(0)._typed_storage().__reduce__()[1][0]
    magic = pickle.dumps(LEGACY_TORCH_MAGIC, protocol=2)
    assert blob.startswith(magic)
    padded = magic[:-1] + (pickle.EMPTY_LIST + pickle.POP) * 100_000 + blob[len(magic) - 1:]
    payload = pickle.dumps([Reduce(torch.storage._load_from_bytes, padded) for _ in range(20)], protocol=4)
    assert len(payload) < len(padded) + 1_000
    with pytest.raises(UserError, match="add up to far more than the file holds"):
        read_network_pickle(io.BytesIO(payload), "padded.pkl")


def test_protocol_0_memo_indices_are_refused():
    """PUT's index is a decimal number of any size: indices of one hash filled the memo
    (a dict) in quadratic time, 100,000 of them in 65 s."""
    payload = b"\x80\x04N" + b"".join(b"p%d\n" % (k * ((1 << 61) - 1)) for k in range(1, 3)) + b"."
    with pytest.raises(UserError, match="a protocol-0 memo opcode"):
        read_network_pickle(io.BytesIO(payload), "put.pkl")


def test_keys_that_all_hash_alike_are_refused_at_once():
    flood = {k * ((1 << 61) - 1): 0 for k in range(1, 3)}  # equal hashes; thousands would take minutes
    assert len({hash(k) for k in flood}) == 1
    payload = pickle.dumps(dict(G_ema=flood), protocol=4)
    with pytest.raises(UserError, match="neither a name nor a number below 2\\*\\*61"):
        read_network_pickle(io.BytesIO(payload), "flood.pkl")
    assert read_network_pickle(io.BytesIO(pickle.dumps({4: 512, 8: 256}, protocol=4)), "ok.pkl") == {4: 512, 8: 256}


def test_shared_or_deep_stored_arguments_are_refused_not_walked(tmp_path, G):
    shared: list = []
    for _ in range(40):  # 2^40 values when walked as a tree, 40 memo entries in the file
        shared = [shared, shared]
    path = tmp_path / "dag.pkl"
    path.write_bytes(nvlabs_bytes(dict(G_ema=G), init_kwargs={id(G): {**G.init_kwargs, "x": shared}}))
    with pytest.raises(UserError, match="far larger or deeper"):
        load_generator(path)


@pytest.mark.parametrize("change, message", [
    (dict(mapping_kwargs=dict(num_layers=100_000)), "1 to 64 layers"),
    (dict(img_resolution=1 << 20), "img_resolution"),
    (dict(synthesis_kwargs=dict(TINY["synthesis_kwargs"], resample_filter=[1] * 100)), "taps"),
    (dict(mapping_kwargs=dict(num_layers=2, lr_multiplier=float("nan"))), "NaN"),
    (dict(synthesis_kwargs=dict(TINY["synthesis_kwargs"], activation="tanh")), "activation"),
    (dict(z_dim=2_000_000), "z_dim and w_dim"),  # a rosinality file without latent_avg: its estimate took 32 GB
    (dict(w_dim=True), "z_dim and w_dim"),
    (dict(img_channels=5), "img_channels must be 1 to 4"),  # PIL writes no such picture
    (dict(img_channels=0), "img_channels must be 1 to 4"),
    (dict(synthesis_kwargs=dict(TINY["synthesis_kwargs"], conv_clamp="x")), "conv_clamp"),
    (dict(synthesis_kwargs=dict(TINY["synthesis_kwargs"], conv_clamp=-1)), "conv_clamp"),
])
def test_stored_arguments_are_bounded_before_anything_is_built(tmp_path, G, change, message):
    path = tmp_path / "args.pkl"
    path.write_bytes(nvlabs_bytes(dict(G_ema=G), init_kwargs={id(G): {**G.init_kwargs, **change}}))
    with pytest.raises(UserError, match=message):
        load_generator(path)


def test_weights_that_are_not_finite_real_numbers_are_refused(tmp_path, G):
    import safetensors.torch

    path = save_generator(G, tmp_path / "g.safetensors", torch.float32)
    state = safetensors.torch.load_file(str(path))
    for key, value, message in (("mapping.fc0.weight", float("nan"), "NaN or infinite"),
                                ("synthesis.b4.const", 1e300, "beyond float32's range"),  # float64: no NaN there
                                ("synthesis.b8.resample_filter", torch.bool, r"\(bool\) are not dense float"),
                                # torch cannot test float8 for NaN: it raised NotImplementedError
                                ("mapping.fc1.weight", torch.float8_e4m3fn, r"\(float8_e4m3fn\) are not dense float")):
        bad = dict(state)
        if isinstance(value, torch.dtype):
            bad[key] = bad[key].to(value)
        else:
            bad[key] = torch.full_like(bad[key], value, dtype=torch.float64 if value == 1e300 else None)
        safetensors.torch.save_file(bad, str(path))
        with pytest.raises(UserError, match=f"{key}.*{message}"):
            load_generator(path)


@pytest.mark.parametrize("change", ["zero stride", "shared storage", "sparse", "complex kernel"])
def test_rosinality_weights_that_are_not_plain_stored_floats_are_refused(tmp_path, G, change, recwarn):
    g_ema = to_rosinality(G)
    if change == "zero stride":  # 18 KB of such views declared a 1.2 GB generator
        g_ema["style.1.weight"] = torch.ones(1).expand(g_ema["style.1.weight"].shape)
        message = "style.1.weight is a view larger than the data stored for it"
    elif change == "shared storage":  # one stored block loaded as 40 weights: memory far beyond the file's
        block = torch.zeros(1 << 16)
        g_ema.update({f"style.{i}.extra": block for i in range(40)})
        message = "share their stored data many times over"
    elif change == "sparse":  # torch loads sparse tensors without checking their indices
        g_ema["style.1.weight"] = g_ema["style.1.weight"].to_sparse()
        message = "style.1.weight is a sparse_coo tensor"
    else:
        key = next(k for k in g_ema if k.endswith("blur.kernel"))
        g_ema[key] = g_ema[key].to(torch.complex64)
        message = "kernel is a complex64 tensor"
    path = tmp_path / "odd.pt"
    torch.save({"g_ema": g_ema, "latent_avg": torch.zeros(G.w_dim)}, path)
    with pytest.raises(UserError, match=message):
        load_generator(path)
    assert not [w for w in recwarn if "torch" in str(w.filename)]  # nothing beside the one line


TORCH_KEYS_REFUSED = "dict keys that are neither names nor integers below 2\\*\\*61"


def test_torch_files_whose_keys_all_hash_alike_are_refused_before_loading(tmp_path, G):
    from live.torch_files import read_state

    flood = {k * ((1 << 61) - 1): 0 for k in range(1, 3)}  # equal hashes: 150,000 took minutes in torch.load
    path = tmp_path / "flood.pt"
    for zipped, protocol in ((True, 2), (False, 2), (False, 3)):  # rosinality's released files: the legacy format
        saved = dict(_use_new_zipfile_serialization=zipped, pickle_protocol=protocol)
        torch.save({"g_ema": to_rosinality(G), "args": flood}, path, **saved)
        with pytest.raises(UserError, match=TORCH_KEYS_REFUSED):  # a legacy file is told at any protocol
            load_generator(path)
        with pytest.raises(UserError, match=f"cannot resume: .*flood.pt holds {TORCH_KEYS_REFUSED}.*move it"):
            read_state(path, "test", lambda state: state)
        torch.save({"g_ema": to_rosinality(G), "args": {4: 512, -(1 << 60): 1}}, path, **saved)  # numbers it may hold
        load_generator(path)
        assert read_state(path, "test", lambda state: state["args"]) == {4: 512, -(1 << 60): 1}
    torch.save({"args": flood}, path)  # torch finds its data.pkl whatever the case of its name
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp_path / "case.pt", "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename.replace("data.pkl", "DATA.pkl"), src.read(info))
    assert torch.load(tmp_path / "case.pt", weights_only=True) == {"args": flood}
    with pytest.raises(UserError, match=TORCH_KEYS_REFUSED):
        read_state(tmp_path / "case.pt", "test", lambda state: state)
    # A refusal of the state's own names the file.
    torch.save({"args": {}}, path)
    with pytest.raises(UserError, match=f"cannot resume from {path}: .*it stored -1"):
        read_state(path, "test", lambda state: (_ for _ in ()).throw(UserError("it stored -1")))


@pytest.mark.parametrize("keys", [
    {(1, 2): 0, (3, 4): 0},                                      # SETITEMS: tuples of small ints (review 47)
    Reduce(OrderedDict, [((1, 2), 0), ((3, 4), 0)]),       # a constructor's (key, value) pairs
    Reduce(Counter, [(1, 2), (3, 4)]),                     # a constructor's keys
    Reduce(set, [complex(1, 2), complex(3, 4)]),            # complex numbers hash alike as easily
])
def test_torch_files_with_keys_a_file_could_make_collide_are_refused(tmp_path, keys):
    """torch's safe loader accepts tuple and complex keys, whose hashes a file can choose so that
    every insertion walks all the keys before it: a 4.6 MB .pt held `inspect` for minutes."""
    from live.torch_files import read_state

    path = tmp_path / "keys.pt"
    for zipped in (True, False):
        torch.save({"args": keys}, path, _use_new_zipfile_serialization=zipped)
        torch.load(path, weights_only=True)  # torch itself would read it
        with pytest.raises(UserError, match=TORCH_KEYS_REFUSED):
            read_state(path, "test", lambda state: state)


def test_a_protocol_5_buffer_is_refused_before_it_allocates(tmp_path):
    """BYTEARRAY8 allocates and zeroes the length it states before reading: a 13-byte file took
    3 GB (review 47). Here 256 MB, which tracemalloc would see."""
    import tracemalloc

    payload = b"\x80\x05\x96" + (256 << 20).to_bytes(8, "little") + b"x."
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match="a protocol-5 buffer"):
            read_network_pickle(io.BytesIO(payload), "buffer.pkl")
        head = b"".join(pickle.dumps(value, protocol=2) for value in (LEGACY_TORCH_MAGIC, 1001, {}))
        (tmp_path / "buffer.pt").write_bytes(head + payload)  # a legacy torch file's saved object
        with pytest.raises(UserError, match="a protocol-5 buffer"):
            load_torch_file(tmp_path / "buffer.pt")
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
    finally:
        tracemalloc.stop()


def test_a_torch_zip_with_compressed_entries_is_refused(tmp_path, G):
    stored = tmp_path / "stored.pt"
    torch.save({"g_ema": to_rosinality(G)}, stored)
    packed = tmp_path / "packed.pt"
    with zipfile.ZipFile(stored) as src, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    load_generator(stored)
    with pytest.raises(UserError, match="compressed entries"):
        load_generator(packed)


# ---------------------------------------------------------------- broken files

def _bad_file(kind, tmp_path, G):
    path = tmp_path / f"{kind}.bin"
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
        return path
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"GIF89a" + bytes(range(256)) * 4)
    elif kind == "truncated pickle":
        data = write_nvlabs_pickle(tmp_path / "full.pkl", G_ema=G).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "truncated torch zip":
        torch.save({"g_ema": to_rosinality(G)}, tmp_path / "full.pt")
        data = (tmp_path / "full.pt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "truncated safetensors":
        full = save_generator(G, tmp_path / "full.safetensors", torch.float32).read_bytes()
        path = tmp_path / "cut.safetensors"
        path.write_bytes(full[: len(full) // 2])
        path.with_suffix(".json").write_bytes((tmp_path / "full.json").read_bytes())
    elif kind == "zip that is not torch":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
    elif kind == "torch file without g_ema":
        torch.save({"state_dict": {"w": torch.ones(2)}}, path)
    elif kind == "pickle of a list":
        path.write_bytes(pickle.dumps([1, 2, 3], protocol=4))
    elif kind == "safetensors without json":
        path = save_generator(G, tmp_path / "lonely.safetensors")
        path.with_suffix(".json").unlink()
    elif kind == "a bundle's space weights":  # it said: needs its config space.json
        path = path.with_name("space.safetensors")
        save_file({"image_encoder.fc.weight": torch.ones(2, 2)}, str(path))
    return path


@pytest.mark.parametrize("kind, message", [
    ("missing", "does not exist"),
    ("directory", "is not a file"),
    ("empty", "is empty"),
    ("garbage", "not a checkpoint format"),
    ("truncated pickle", "truncated"),
    ("truncated torch zip", "truncated"),
    ("truncated safetensors", "truncated"),
    ("zip that is not torch", "not a valid torch checkpoint"),
    ("torch file without g_ema", "no g_ema"),
    ("pickle of a list", "not an NVlabs network snapshot"),
    ("safetensors without json", "needs its config lonely.json"),
    ("a bundle's space weights", "holds no generator"),
])
def test_bad_files_give_one_line_user_errors(tmp_path, G, kind, message):
    with pytest.raises(UserError, match=message) as err:
        load_generator(_bad_file(kind, tmp_path, G))
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- rosinality

@pytest.mark.parametrize("zip_format", [True, False])
def test_rosinality_checkpoint_loads_to_the_native_outputs(tmp_path, G, expected, zip_format):
    path = tmp_path / "550000.pt"
    torch.save({"g_ema": to_rosinality(G), "latent_avg": G.mapping.w_avg.clone()}, path,
               _use_new_zipfile_serialization=zip_format)
    loaded, info = load_generator(path)
    assert max_diff(outputs(loaded), expected) < 1e-5
    assert info.format == FORMAT_ROSINALITY and info.notes == ()
    assert loaded.init_kwargs["synthesis_kwargs"] == {"channel_base": 512, "channel_max": 64}
    assert info.stored_dtype == "float32"


def test_a_latent_avg_kept_per_layer_loads_and_one_of_no_use_is_named(tmp_path, G, expected):
    """Encoders' exports (pSp, e4e) keep latent_avg as [num_ws, w_dim]: it was flattened and
    refused as a mapping.w_avg the file does not hold (review)."""
    path = tmp_path / "e4e.pt"
    torch.save({"g_ema": to_rosinality(G), "latent_avg": G.mapping.w_avg.repeat(G.num_ws, 1)}, path)
    assert max_diff(outputs(load_generator(path)[0]), expected) < 1e-5
    torch.save({"g_ema": to_rosinality(G), "latent_avg": torch.randn(G.num_ws, G.w_dim)}, path)
    with pytest.raises(UserError, match=rf"latent_avg is \[{G.num_ws}, {G.w_dim}\]; the average w .* \[{G.w_dim}\]"):
        load_generator(path)


def test_a_half_precision_rosinality_file_is_reported_as_one(tmp_path, G):
    path = tmp_path / "half.pt"
    torch.save({"g_ema": {k: v.half() for k, v in to_rosinality(G).items()}, "latent_avg": G.mapping.w_avg.half()},
               path)
    assert load_generator(path)[1].stored_dtype == "float16"


@pytest.mark.parametrize("psi", [1.0, 0.7])
def test_converted_weights_give_the_picture_of_rosinality_formulas(tmp_path, G, psi):
    """Their run-time scales (EqualLinear lr_mul, ModulatedConv2d and ToRGB weight scales,
    4x blur kernels) land on ours: their forward on their weights == ours on ours."""
    sd = to_rosinality(G)
    path = tmp_path / "g.pt"
    torch.save({"g_ema": sd, "latent_avg": G.mapping.w_avg.clone()}, path)
    loaded, _ = load_generator(path)
    z = torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        theirs = rosinality_forward(sd, z, truncation=psi, latent_avg=G.mapping.w_avg)
        ours = loaded(z, truncation_psi=psi, noise_mode="const")
    assert (theirs - ours).abs().max().item() < 1e-5


def test_rosinality_training_checkpoint_without_latent_avg(tmp_path, G):
    sd = to_rosinality(G)
    path = tmp_path / "010000.pt"
    torch.save({"g": sd, "d": {}, "g_ema": sd, "g_optim": {"state": {}, "param_groups": [{"lr": 0.002}]},
                "args": argparse.Namespace(size=32, n_mlp=2, latent=32), "ada_aug_p": 0.0}, path)
    loaded, info = load_generator(path)
    assert info.notes and "latent_avg" in info.notes[0]
    with torch.no_grad():
        w = G.mapping(torch.randn([4096, G.z_dim], generator=torch.Generator().manual_seed(9)))[:, 0]
    spread = (w.std(dim=0) / 4096**0.5).max()
    assert (loaded.mapping.w_avg - w.mean(dim=0)).abs().max() < 5 * spread
    # The estimate is the same at every load: a truncated picture must not change between shows.
    assert torch.equal(load_generator(path)[0].mapping.w_avg, loaded.mapping.w_avg)


def _save_rosinality(tmp_path, sd):
    path = tmp_path / "edited.pt"
    torch.save({"g_ema": sd}, path)
    return path


def test_rosinality_channels_outside_any_channel_table_are_refused(tmp_path, G):
    sd = to_rosinality(G)
    sd["convs.2.conv.weight"] = torch.randn(1, 24, 64, 3, 3)
    with pytest.raises(UserError, match=r"follow no .*channel_base"):
        load_generator(_save_rosinality(tmp_path, sd))


def test_rosinality_other_blur_kernel_and_unknown_keys_are_refused(tmp_path, G):
    sd = to_rosinality(G)
    sd["convs.0.conv.blur.kernel"] = torch.ones(4, 4) / 4
    with pytest.raises(UserError, match=r"convs\.0\.conv\.blur\.kernel is not the \[1, 3, 3, 1\]"):
        load_generator(_save_rosinality(tmp_path, sd))
    sd = to_rosinality(G)
    sd["style.9.scale"] = torch.ones(1)
    with pytest.raises(UserError, match=r"does not know: style\.9\.scale"):
        load_generator(_save_rosinality(tmp_path, sd))


# ---------------------------------------------------------------- our format

def test_safetensors_round_trip_fp32_is_exact(tmp_path, G, expected):
    path = save_generator(G, tmp_path / "g.safetensors", dtype=torch.float32)
    config = json.loads(path.with_suffix(".json").read_text())
    assert config == {"format": "live-stylegan2", "version": 1, "init_kwargs": G.init_kwargs, "dtype": "float32"}
    loaded, info = load_generator(path)
    assert max_diff(outputs(loaded), expected) == 0
    assert info.format == FORMAT_LIVE


def test_safetensors_fp16_loads_as_fp32_by_default_within_fp16_tolerance(tmp_path, G, expected):
    path = save_generator(G, tmp_path / "g.safetensors")
    loaded, info = load_generator(path)
    assert info.stored_dtype == "float16"
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    assert max_diff(outputs(loaded), expected) < 2e-2
    half, _ = load_generator(path, dtype=torch.float16)
    assert {p.dtype for p in half.parameters()} == {torch.float16}


def test_fp16_overflow_is_refused(tmp_path):
    G = tiny_generator(0)
    with torch.no_grad():
        G.synthesis.b8.conv0.weight[0, 0, 0, 0] = 1e6
    with pytest.raises(UserError, match=r"synthesis\.b8\.conv0\.weight are not finite in float16; save in float32"):
        save_generator(G, tmp_path / "g.safetensors")
    assert not list(tmp_path.iterdir())


def test_any_network_whose_weights_float16_cannot_hold_is_not_written(tmp_path):
    from torch import nn

    from live.nets.weights import save_weights

    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.bias[1] = 1e6  # past float16's 65504
    with pytest.raises(UserError, match=r"^bias are not finite in float16; the training diverged"):
        save_weights(layer, tmp_path / "head.safetensors")
    assert not list(tmp_path.iterdir())
    save_weights(layer, tmp_path / "head.safetensors", torch.float32)  # float32 holds it


def test_safetensors_config_version_and_arguments_are_checked(tmp_path, G):
    path = save_generator(G, tmp_path / "g.safetensors")
    config_path = path.with_suffix(".json")
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "version": 2}))
    with pytest.raises(UserError, match="version 2"):
        load_generator(path)
    config_path.write_text(json.dumps({**config, "version": [0] * 100_000}))  # said whole: 300 KB (review 47)
    with pytest.raises(UserError, match="has version a list; this program reads version 1$"):
        load_generator(path)
    config_path.write_text(json.dumps({**config, "init_kwargs": {**config["init_kwargs"], "depth": 3}}))
    with pytest.raises(UserError, match="cannot build"):
        load_generator(path)
    config_path.write_text(json.dumps(config).replace('"z_dim": 32', '"z_dim": 1' + "0" * 5000))  # past int()'s limit
    with pytest.raises(UserError, match="g.json is not valid JSON"):
        load_generator(path)


def test_checkpoint_info_describes_the_architecture(tmp_path, G):
    _, info = load_generator(save_generator(G, tmp_path / "g.safetensors"))
    assert (info.resolution, info.z_dim, info.c_dim, info.w_dim) == (32, 32, 0, 32)
    assert (info.num_ws, info.mapping_layers) == (8, TINY["mapping_kwargs"]["num_layers"])
    assert info.channels == {4: 64, 8: 64, 16: 32, 32: 16}
    assert info.parameter_count == sum(p.numel() for p in G.parameters())


def test_unknown_or_unavailable_device_is_a_user_error(tmp_path, G):
    path = save_generator(G, tmp_path / "g.safetensors")
    with pytest.raises(UserError, match="unknown device"):
        load_generator(path, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="not available"):
            load_generator(path, device="cuda")


def test_a_protocol_2_network_pickle_loads_and_a_tensorflow_one_is_named(tmp_path, G, expected):
    path = tmp_path / "p2.pkl"
    path.write_bytes(nvlabs_bytes(dict(G_ema=G), protocol=2))  # bytes as _codecs.encode(str, 'latin1')
    assert "_codecs" in path.read_bytes().decode("latin1")
    loaded, _ = load_generator(path)
    assert max_diff(outputs(loaded), expected) < 1e-5
    tf = tmp_path / "tf.pkl"
    tf.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01.")
    with pytest.raises(UserError, match="TensorFlow StyleGAN2 pickle.*legacy.py"):
        load_generator(tf)


def test_convert_keeps_an_existing_config_file_without_force(tmp_path, G):
    from live.__main__ import main

    source = write_nvlabs_pickle(tmp_path / "g.pkl", G_ema=G)
    (tmp_path / "out.json").write_text('{"precious": 1}')
    assert main(["convert", str(source), str(tmp_path / "out.safetensors")]) == 2
    assert (tmp_path / "out.json").read_text() == '{"precious": 1}'


def test_a_bundle_loads_without_importing_torch_s_compiler():
    # torch._dynamo took 0.9 s of loading a bundle: torchvision imported it (its detection
    # ops), and so did out-of-place arithmetic while the generator was built on the meta device.
    import sys

    code = ("import sys; from live.bundle import Bundle; Bundle.load('default'); "
            "print(sorted(m for m in ('torch._dynamo', 'torchvision') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_rosinality_file_without_latent_avg_is_bounded_before_its_estimate(tmp_path, monkeypatch):
    """The estimate maps 4096 z of z_dim numbers each: a 413 KB file took 3.7 GB, an 8 MB one
    asked for 32 GB and crashed."""
    from live.nets import checkpoints

    def no_estimate(*args):
        raise AssertionError("estimated before its arguments were checked")

    monkeypatch.setattr(checkpoints, "_estimate_w_avg", no_estimate)
    wide = tiny_generator(z_dim=MAX_LATENT_DIM + 1, w_dim=1, img_resolution=8,
                          synthesis_kwargs=dict(channel_base=32, channel_max=4))
    path = tmp_path / "wide.pt"
    torch.save({"g_ema": to_rosinality(wide)}, path)
    with pytest.raises(UserError, match="z_dim and w_dim must be whole numbers from 1 to"):
        load_generator(path)


def test_a_legacy_torch_file_that_leaves_a_storage_unfilled_is_refused(tmp_path, G):
    """torch's legacy reader makes every storage the saved object names but fills only those
    in the key list after it: a storage left out of the list came back holding old memory."""
    buffer = io.BytesIO()
    torch.save({"g_ema": to_rosinality(G), "latent_avg": G.mapping.w_avg.clone()}, buffer,
               _use_new_zipfile_serialization=False)
    raw = buffer.getvalue()
    stream = io.BytesIO(raw)
    for _ in range(4):  # magic number, protocol, system info, the saved object
        for _ in pickletools.genops(stream):
            pass
    keys_at = stream.tell()
    keys = pickle.load(stream)
    storages, at = {}, stream.tell()
    for key in keys:  # each: its element count, then its float32 bytes
        count = int.from_bytes(raw[at:at + 8], "little")
        storages[key], at = raw[at:at + 8 + 4 * count], at + 8 + 4 * count
    assert at == len(raw)
    kept = keys[1:]
    path = tmp_path / "unfilled.pt"
    path.write_bytes(raw[:keys_at] + pickle.dumps(kept, protocol=2) + b"".join(storages[k] for k in kept))
    with pytest.raises(UserError, match="unfilled.pt names storages it does not hold"):
        load_generator(path)
    whole = tmp_path / "whole.pt"
    whole.write_bytes(raw)
    assert max_diff(outputs(load_generator(whole)[0]), outputs(G)) < 1e-5


def test_a_gpu_index_past_the_machine_s_is_one_line(monkeypatch):
    """`--device cuda:3` on a one-GPU machine passed, then moving a network there was torch's
    "invalid device ordinal" traceback in generate, train and bench (found by review)."""
    from types import SimpleNamespace

    from live.nets.device import checked_device
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda: SimpleNamespace(type="cuda"))
    monkeypatch.setattr(torch.accelerator, "device_count", lambda: 1)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # torch's default, put back after
    assert checked_device("cpu") == torch.device("cpu") and torch.backends.cudnn.allow_tf32
    assert checked_device("cuda") == torch.device("cuda") and checked_device("cuda:0") == torch.device("cuda:0")
    # The reference path is float32: not TF32's 10 mantissa bits in convolutions on Ampere and later (review 62).
    assert not torch.backends.cudnn.allow_tf32
    with pytest.raises(UserError, match=r"^device 'cuda:3': this machine has 1 cuda device\(s\), cuda:0 to cuda:0$"):
        checked_device("cuda:3")


def test_a_legacy_torch_file_s_memo_index_takes_no_memory_in_the_check(tmp_path):
    """The check read legacy files with the C unpickler, whose memo is an array as long as the
    largest index put: a 152-byte file took 4 GB there (review 47)."""
    import tracemalloc

    head = b"".join(pickle.dumps(value, protocol=2) for value in (LEGACY_TORCH_MAGIC, 1001, {"little_endian": True}))
    memo = b"\x80\x02}r" + (1 << 26).to_bytes(4, "little") + b"."  # {} put at memo index 2**26
    path = tmp_path / "memo.pt"
    path.write_bytes(head + memo + pickle.dumps([], protocol=2))
    tracemalloc.start()
    try:
        check_torch_file(path)
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("zipped", [True, False])
def test_a_torch_file_of_pickle_protocol_4_is_named_as_such_not_as_damaged(tmp_path, G, zipped):
    from live.torch_files import read_state

    path = tmp_path / "p4.pt"
    torch.save({"g_ema": to_rosinality(G), "latent_avg": G.mapping.w_avg}, path, pickle_protocol=4,
               _use_new_zipfile_serialization=zipped)
    for load in (load_generator, lambda p: read_state(p, "test", lambda state: state)):
        with pytest.raises(UserError, match="p4.pt was saved with pickle protocol 4, which torch's safe loader "
                                            "cannot read; load it with torch and save it again"):
            load(path)
    torch.save({"g_ema": to_rosinality(G), "latent_avg": G.mapping.w_avg}, path, pickle_protocol=3,
               _use_new_zipfile_serialization=zipped)
    assert load_generator(path) is not None


def test_a_network_is_made_only_once_its_weights_file_is_known_to_fit(tmp_path):
    """Made first, a bundle.toml edited to a predictor far larger than its weights took 7.5 GB
    before the one line saying they do not fit (review 47)."""
    from live.nets.weights import load_weights, save_weights

    path = save_weights(torch.nn.Linear(4, 4), tmp_path / "layer.safetensors", torch.float32)
    made = []

    def build(out_features):
        layer = torch.nn.Linear(4, out_features)
        made.append(layer.weight.device.type)
        return layer

    with pytest.raises(UserError, match="does not fit its network \\(wrong shape \\['bias', 'weight'\\]\\)"):
        load_weights(lambda: build(4096), path)
    assert made == ["meta"]
    made.clear()
    layer = load_weights(lambda: build(4), path)
    assert made == ["meta", "cpu"]
    assert torch.equal(layer.weight, load_file(path)["weight"])


def test_a_weights_file_holding_nan_is_refused_by_name(tmp_path):
    """One NaN in a bundle's predictor played a whole show black, with no error (review 47)."""
    from live.nets.weights import load_weights, save_weights

    path = save_weights(torch.nn.Linear(4, 4), tmp_path / "layer.safetensors", torch.float32)
    tensors = load_file(path)
    tensors["bias"][2] = float("nan")
    save_file(tensors, path)
    with pytest.raises(UserError, match="layer.safetensors: bias hold NaN or infinite values; the file is damaged"):
        load_weights(lambda: torch.nn.Linear(4, 4), path)


def test_a_rosinality_mapping_whose_layers_do_not_fit_is_named_before_it_is_built(tmp_path, G, monkeypatch):
    """Without latent_avg, the estimate built the mapping network the names promise before its
    shapes were compared: a 50 KB file's 64 layers of 4096 x 4096 took 4.6 GB (review 47)."""
    from live.nets import checkpoints

    built = []
    original = checkpoints.MappingNetwork

    def spied(**kwargs):
        network = original(**kwargs)
        built.append(next(network.parameters()).device.type)
        return network
    monkeypatch.setattr(checkpoints, "MappingNetwork", spied)
    sd = to_rosinality(G)
    sd["style.2.weight"] = torch.zeros(1)
    with pytest.raises(UserError, match=r"mapping network's weights do not fit together \(size mismatch for fc1"):
        load_generator(_save_rosinality(tmp_path, sd))
    assert built == ["meta"]


def test_a_rosinality_file_holding_a_meta_tensor_is_named_in_one_line(tmp_path, G):
    """torch's safe loader keeps a meta tensor (a model saved before its weights were loaded); the
    NaN check then raised a traceback in inspect and convert (review 47)."""
    sd = to_rosinality(G)
    sd["conv1.noise.weight"] = torch.empty_like(sd["conv1.noise.weight"], device="meta")
    with pytest.raises(UserError, match="conv1.noise.weight is a meta \\(no data: saved before its weights were"):
        load_generator(_save_rosinality(tmp_path, sd))


def test_sets_built_again_and_again_from_the_memo_are_charged_what_they_take():
    """A set was charged one budget byte per item and takes about 105: an 8.4 MB pickle of sets
    made from one memoized list of names took 2.9 GB (review 47)."""
    def name(text):
        return pickle.SHORT_BINUNICODE + bytes([len(text)]) + text.encode()

    payload = b"".join([pickle.PROTO + b"\x04", pickle.EMPTY_LIST, pickle.MEMOIZE,      # memo 0: the list kept
                        name("builtins"), name("set"), pickle.STACK_GLOBAL, pickle.MEMOIZE, pickle.POP,  # 1: set
                        pickle.EMPTY_LIST, pickle.MEMOIZE, pickle.MARK,                  # memo 2: 2,000 names
                        *(name(f"n{i}") for i in range(2000)), pickle.APPENDS, pickle.POP,
                        (pickle.BINGET + b"\x01" + pickle.BINGET + b"\x02" + pickle.TUPLE1 + pickle.REDUCE
                         + pickle.APPEND) * 200, pickle.STOP])
    with pytest.raises(UserError, match="the objects it builds add up to far more than the file holds"):
        read_network_pickle(io.BytesIO(payload), "sets.pkl")


def test_a_checkpoint_s_name_is_printed_without_its_control_characters(tmp_path, G, capsys):
    """A downloaded file's name with a newline and an escape code forged a line and cleared the
    terminal in inspect, convert and bundle new (review 47)."""
    from live.__main__ import main

    path = tmp_path / "we\nird\x1b[2J.pkl"
    path.write_bytes(nvlabs_bytes({"G_ema": G}))
    assert main(["inspect", str(path)]) == 0
    assert main(["convert", str(path), str(tmp_path / "out.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "we\\nird\\x1b[2J.pkl" in out
    assert not any(line.startswith("ird") for line in out.splitlines())


def test_a_torch_file_whose_pickle_builds_far_more_than_it_holds_is_refused_by_the_check(tmp_path):
    """The skim built whatever a torch pickle asked for, and torch's loader then built it again:
    a 5 MB file of empty sets took 1.7 GB (review 51). A state dict of many tiny tensors passes."""
    flood = tmp_path / "sets.pt"
    torch.save({"x": 1}, flood)
    with zipfile.ZipFile(flood) as src:
        entries = {info.filename: src.read(info) for info in src.infolist()}
    pickle_name = next(name for name in entries if name.endswith("data.pkl"))
    entries[pickle_name] = b"\x80\x02(" + pickle.EMPTY_SET * 200_000 + b"l."
    with zipfile.ZipFile(flood, "w") as dst:
        for name, data in entries.items():
            dst.writestr(name, data)
    with pytest.raises(UserError, match="sets.pt: its pickle builds far more than the file holds"):
        check_torch_file(flood)
    tiny = tmp_path / "tiny.pt"
    torch.save({f"layer{i}.bias": torch.zeros(1) for i in range(5000)}, tiny)
    check_torch_file(tiny)


def test_a_checkpoint_that_fails_to_read_is_named(tmp_path):
    # An I/O error (a failing stick, a share gone) said "cannot use (Input/output error)", no file (review 61).
    failing = tmp_path / "failing.pkl"
    failing.symlink_to("/proc/self/mem")  # reading its first page fails with EIO
    with pytest.raises(UserError, match=f"cannot read {failing} \\(Input/output error\\); check that it is still"):
        load_generator(failing)
