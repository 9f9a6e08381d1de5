"""Random values for the CLI's options: never a traceback, and an error always names the option it is about."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from synthgen.cli.main import app

runner = CliRunner()
# the smallest real run: the 8x8 digits, no outer steps, random real starting images, no checkpoints
BASE = {
    "--source": "digits",
    "--init": "real",
    "--steps": "0",
    "--checkpoint-every": "0",
    "--learners": "mlp",
    "--device": "cpu",
}
numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["abc", "", "1e309", "-0", "nan", "3.5", "0x10"]),
)
GENERATE_OPTIONS = {
    "--ipc": numbers,
    "--inner-steps": numbers,
    "--inner-lr": numbers,
    "--inner-momentum": numbers,
    "--inits": numbers,
    "--lr-jitter": numbers,
    "--seed": numbers,
    "--recipe-step-scale": numbers,
    "--threads": numbers,
    "--real-batch": numbers,
    "--time-budget": st.one_of(
        st.floats(max_value=0.5), st.sampled_from(["abc", "-1", "0", "nan"])
    ),  # a valid one runs that long
    "--init": st.text(max_size=8),
    "--scenario": st.text(max_size=12),
    "--device": st.text(max_size=8),
}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generate_options_fail_cleanly_and_name_the_option(tmp_path_factory, data):
    option = data.draw(st.sampled_from(sorted(GENERATE_OPTIONS)))
    value = str(data.draw(GENERATE_OPTIONS[option]))
    out = tmp_path_factory.mktemp("gen") / "x.safetensors"
    args = [f"{k}={v}" for k, v in {**BASE, option: value}.items()]
    res = runner.invoke(app, ["generate", "--out", str(out), *args])
    assert "Traceback" not in res.output, res.output
    assert res.exit_code in (0, 2), (option, value, res.output)
    if res.exit_code == 2:
        name = option.lstrip("-")
        assert name in res.output or name.replace("-", "_") in res.output, (option, value, res.output)
    else:
        assert out.exists()


VERIFY_OPTIONS = {
    "--seeds": numbers,
    "--peer-margin": numbers,
    "--max-forgetting": numbers,
    "--min-joint-fraction": numbers,
    "--threads": numbers,
}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_verify_options_fail_cleanly_and_name_the_option(tmp_path_factory, tiny_artifact, data):
    from synthgen.format.artifact import save_artifact

    option = data.draw(st.sampled_from(sorted(VERIFY_OPTIONS)))
    value = str(data.draw(VERIFY_OPTIONS[option].filter(lambda v: not (isinstance(v, int) and 0 < v < 10**6))))
    path = save_artifact(tiny_artifact, tmp_path_factory.mktemp("ver") / "a.safetensors")
    res = runner.invoke(app, ["verify", str(path), "--quick", "--heldout", "", "--no-peers", f"{option}={value}"])
    assert "Traceback" not in res.output, res.output
    assert res.exit_code in (0, 1, 2), (option, value, res.output)
    if res.exit_code == 2:
        name = option.lstrip("-")
        assert name in res.output or name.replace("-", "_") in res.output, (option, value, res.output)
