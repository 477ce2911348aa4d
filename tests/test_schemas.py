import pydantic
import pytest

from schemas import CurateConfig, Example, Message, QuarantineRecord, check_messages, load_curate_config
from schemas.checks import STRUCTURE_CODES

U = {"role": "user", "content": "What is 2+2?"}
A = {"role": "assistant", "content": "4"}
S = {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("messages, code", [
    ([U, {"role": "assistant", "content": "  "}], "structure.empty_content"),
    ([U, A, S, U, A], "structure.system_not_first"),
    ([U, U, A], "structure.consecutive_user"),
    ([U, A, A], "structure.consecutive_assistant"),
    ([S, U], "structure.no_assistant"),
    ([U, A, U], "structure.not_ending_with_assistant"),
    ([{"role": "tool", "content": "x"}, U, A], "structure.unknown_role"),
])
def test_each_structure_code(messages, code):
    assert check_messages(messages) == [code]


def test_valid_conversations_have_no_codes():
    assert check_messages([S, U, A]) == []
    assert check_messages([U, A, U, A]) == []
    assert set(STRUCTURE_CODES) == {
        "structure.empty_content", "structure.system_not_first", "structure.consecutive_user",
        "structure.consecutive_assistant", "structure.no_assistant", "structure.not_ending_with_assistant",
        "structure.unknown_role", "structure.assistant_first"}


def test_models_forbid_extra_fields_and_bad_roles():
    with pytest.raises(pydantic.ValidationError):
        Message(role="user", content="x", extra=1)
    with pytest.raises(pydantic.ValidationError, match="role"):
        Message(role="robot", content="x")
    ex = Example(id="a", messages=[U, A], source_file="f.jsonl", source_line=3, format="alpaca")
    assert ex.messages[1].content == "4"
    with pytest.raises(pydantic.ValidationError, match="at least one message"):
        Example(id="a", messages=[], source_file="f", source_line=1, format="alpaca")


def test_quarantine_location():
    rec = QuarantineRecord(source_file="a.json", line=3, column=7, code="read.json_syntax", error="x")
    assert rec.location() == "a.json:3:7"


def test_config_defaults_and_toml_override(tmp_path):
    cfg = CurateConfig()
    assert cfg.dedup.threshold == 0.7 and cfg.rules.min_response_chars == 5
    toml = tmp_path / "c.toml"
    toml.write_text('[rules]\nmin_response_chars = "none"\nmax_junk_share = 0.5\n'
                    '[actions]\n"pii.email" = "drop"\n[dedup]\nnum_perm = 64\n')
    cfg = load_curate_config(toml)
    assert cfg.rules.min_response_chars is None
    assert cfg.rules.max_junk_share == 0.5
    assert cfg.actions["pii.email"] == "drop" and cfg.actions["dedup.exact"] == "drop"
    assert cfg.dedup.num_perm == 64


def test_config_errors_name_the_field(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text("[dedup]\nthreshold = 2.0\n")
    with pytest.raises(pydantic.ValidationError, match="threshold"):
        load_curate_config(toml)
    toml.write_text("[rules]\nno_such_rule = 1\n")
    with pytest.raises(pydantic.ValidationError, match="no_such_rule"):
        load_curate_config(toml)
    toml.write_text('[actions]\n"made.up" = "drop"\n')
    with pytest.raises(pydantic.ValidationError, match="made.up"):
        load_curate_config(toml)
