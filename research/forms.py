"""Researcher forms: enrolment with consent, a new protocol version."""

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError

from accounts.models import User
from chat.models import PuzzleGroup
from studies.models import Arm, CuePolicy, Study, validate_timezone
from studies.scoring_policy import STRICT


class EnrolForm(forms.Form):
    arm = forms.ModelChoiceField(queryset=Arm.objects.none())
    consent_given_at = forms.DateTimeField(
        required=False,
        label="Consent given at",
        help_text="Required when the study has a consent text.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    full_name = forms.CharField(max_length=200, required=False, help_text="Kept apart from the research data.")
    email = forms.EmailField(required=False)
    timezone = forms.CharField(
        max_length=64, initial="UTC", validators=[validate_timezone], help_text="For example Europe/London."
    )
    username = forms.CharField(max_length=150, required=False, help_text="Creates a trainee login when given.")
    password = forms.CharField(
        required=False, widget=forms.PasswordInput, min_length=10,
        help_text="At least 10 characters, not a common password, not only digits, not like the username.",
    )  # fmt: skip

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arm"].queryset = study.arms.all()
        self.consent_needed = study.consent_versions.exists()

    def clean(self):
        data = super().clean()
        if self.consent_needed and not data.get("consent_given_at"):
            self.add_error("consent_given_at", "Record when the participant gave consent.")
        if data.get("username") and not data.get("password"):
            self.add_error("password", "A new login needs a password.")
        elif data.get("username") and data.get("password"):
            candidate = User(username=data["username"], role=User.Role.TRAINEE)
            try:
                password_validation.validate_password(data["password"], user=candidate)
            except ValidationError as error:
                self.add_error("password", error)
        return data


class ProtocolVersionForm(forms.Form):
    puzzle_groups = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, help_text="Offered in turn.")
    puzzles_per_session = forms.IntegerField(min_value=1, max_value=50, initial=5)
    sessions_per_week = forms.IntegerField(min_value=1, max_value=14, initial=3)
    cue_policy = forms.ChoiceField(choices=CuePolicy.choices)
    model_name = forms.CharField(max_length=200, required=False, help_text="Blank: the bot uses its templates only.")
    scoring = forms.ChoiceField(
        label="Scoring of names and numbers",
        choices=[
            ("standard", "Standard: nicknames, near-miss spellings, close hedged numbers and synonyms count"),
            ("strict", "Strict: names, words and numbers exactly as in the life log"),
        ],
        help_text="The API accepts any policy (studies.scoring_policy); this form offers the two presets.",
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="What changed, and why."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["puzzle_groups"].choices = [
            (f"{group.key}:{group.version}", f"{group.title} ({group.key} v{group.version})")
            for group in PuzzleGroup.objects.filter(active=True).order_by("key", "-version")
        ]

    def scoring_policy(self) -> dict:
        return STRICT.as_dict() if self.cleaned_data["scoring"] == "strict" else {}

    def pins(self) -> list[dict]:
        return [
            {"key": key, "version": int(version)}
            for key, version in (choice.split(":") for choice in self.cleaned_data["puzzle_groups"])
        ]
