"""``[~label]`` templates."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smscast.domain.personalisation import LABEL_PATTERN, Template, compile_template, labels_in

label_names = st.sampled_from(["firstName", "lastName", "mobile", "email", "country", "Team colour", "x-1_y"])
literals = st.text(alphabet=st.sampled_from("ab ~[]!€\n"), max_size=8).filter(lambda s: "[~" not in s)


def test_labels_in_order_of_first_appearance_once_each() -> None:
    body = "Hi [~firstName] [~lastName], [~firstName]! Code [~code] [~Team colour]"
    assert labels_in(body) == ["firstName", "lastName", "code", "Team colour"]
    assert compile_template(body).labels == ("firstName", "lastName", "code", "Team colour")
    assert labels_in("no labels") == []


def test_what_is_a_placeholder() -> None:
    assert LABEL_PATTERN.findall("[~a] [~] [~b [~c] ~d] [~e]]") == ["a", "c", "e"]
    assert labels_in("[~ spaced ]") == [" spaced "]  # verbatim, not trimmed


def test_value_then_fallback_then_empty() -> None:
    template = compile_template("Hi [~firstName] [~lastName][~missing]!")
    values = {"firstName": "Ann"}
    fallback = {"firstName": "friend", "lastName": "Doe"}
    assert template.render(values, fallback) == "Hi Ann Doe!"
    assert template.render({}, fallback) == "Hi friend Doe!"
    assert template.render({}, {}) == "Hi  !"
    assert template.render({}) == "Hi  !"


def test_empty_value_falls_back() -> None:
    template = compile_template("Hi [~firstName]")
    assert template.render({"firstName": ""}, {"firstName": "friend"}) == "Hi friend"


def test_repeated_labels_all_replaced() -> None:
    template = compile_template("[~a]-[~a]-[~b]-[~a]")
    assert template.render({"a": "1", "b": "2"}, {}) == "1-1-2-1"


def test_case_insensitive_after_exact() -> None:
    template = compile_template("[~FirstName] [~firstname]")
    assert template.render({"firstName": "Ann"}, {}) == "Ann Ann"
    # An exact key wins over a case-insensitive one.
    both = compile_template("[~FirstName] [~firstName]")
    assert both.render({"firstName": "Other", "FirstName": "Exact"}, {}) == "Exact Other"
    # A recipient's case-insensitive value beats an exact fallback.
    assert template.render({"FIRSTNAME": "Ann"}, {"FirstName": "friend", "firstname": "friend"}) == "Ann Ann"
    assert template.render({}, {"FIRSTNAME": "friend"}) == "friend friend"


def test_values_are_not_expanded_again() -> None:
    template = compile_template("[~a]")
    assert template.render({"a": "[~b]", "b": "no"}, {}) == "[~b]"


def test_unpersonalised_template() -> None:
    template = compile_template("Plain text [not a label]")
    assert not template.is_personalised
    assert template.labels == ()
    assert template.render({"x": "y"}, {}) == "Plain text [not a label]"
    assert compile_template("[~x]").is_personalised


def test_template_is_immutable_and_compares_by_source() -> None:
    template = compile_template("Hi [~a]")
    assert template == Template("Hi [~a]")
    with pytest.raises(dataclasses.FrozenInstanceError):
        template.source = "other"  # type: ignore[misc]


@given(
    st.lists(st.tuples(literals, label_names), max_size=6), literals, st.dictionaries(label_names, literals)
)
def test_render_matches_a_naive_substitution(
    pieces: list[tuple[str, str]], tail: str, values: dict[str, str]
) -> None:
    body = "".join(f"{literal}[~{label}]" for literal, label in pieces) + tail
    template = compile_template(body)
    fallback = {"mobile": "+30"}

    def naive(match: object) -> str:
        label = match.group(1)  # type: ignore[attr-defined]
        return values.get(label) or fallback.get(label) or ""

    assert template.render(values, fallback) == LABEL_PATTERN.sub(naive, body)
    assert list(template.labels) == labels_in(body)
