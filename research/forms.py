"""Researcher forms: a study, its arms and consent texts, enrolment with consent, a new protocol version."""

from django import forms

from chat.models import PuzzleGroup
from studies.models import Arm, ConsentVersion, CuePolicy, Study, validate_timezone
from studies.scoring_policy import STRICT


class StudyForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=50, help_text="Short name for addresses and exports, e.g. memory-2027.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ArmForm(forms.Form):
    key = forms.SlugField(max_length=64, label="Arm key", help_text="Short name in exports, e.g. control.")
    name = forms.CharField(max_length=200, label="Arm name")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Arm description")


class ConsentVersionForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="Consent text")
    on_withdrawal = forms.ChoiceField(choices=ConsentVersion.OnWithdrawal.choices, label="On withdrawal")


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
    username = forms.CharField(
        max_length=150, required=False,
        help_text="Creates a trainee login with a generated password, shown once after enrolling.",
    )  # fmt: skip

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arm"].queryset = study.arms.all()
        self.consent_needed = study.consent_versions.exists()

    def clean(self):
        data = super().clean()
        if self.consent_needed and not data.get("consent_given_at"):
            self.add_error("consent_given_at", "Record when the participant gave consent.")
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
