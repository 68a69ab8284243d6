from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.contrib.auth.forms import UserCreationForm as DjangoUserCreationForm

from accounts.models import Company, Domain, Team, User
from audit.services import audit_record
from core.admin import PermittedActionsMixin


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ("domain", "created_at")
    readonly_fields = ("created_at",)


class TeamInline(admin.TabularInline):
    model = Team
    extra = 0
    fields = ("name", "created_at")
    readonly_fields = ("created_at",)


class AuditedSaveMixin:
    """A save in the admin writes ``<audit_noun>.<created or changed>`` with the fields changed,
    like the services do."""

    audit_noun = ""
    audit_created = "created"

    def audit_subject(self, obj) -> tuple[Company | None, str]:
        """(the company the event belongs to, its target)."""
        raise NotImplementedError

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        company, target = self.audit_subject(obj)
        audit_record(
            action=f"{self.audit_noun}.{'changed' if change else self.audit_created}",
            company=company,
            actor=request.user,
            target=target,
            details={"fields": form.changed_data},
        )


@admin.register(Company)
class CompanyAdmin(AuditedSaveMixin, admin.ModelAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name", "domains__domain")
    inlines = [DomainInline, TeamInline]
    audit_noun = "company"

    def audit_subject(self, obj: Company) -> tuple[Company | None, str]:
        return obj, obj.slug

    def save_formset(self, request, form, formset, change) -> None:
        """Domains added here were checked by ``Domain.clean`` (normalized, and never another
        company's); they are audited like ``domain_add``'s."""
        super().save_formset(request, form, formset, change)
        if formset.model is not Domain:
            return
        changes = [
            *(("domain.added", domain) for domain in formset.new_objects),
            *(("domain.changed", domain) for domain, _fields in formset.changed_objects),
            *(("domain.removed", domain) for domain in formset.deleted_objects),
        ]
        for action, domain in changes:
            audit_record(
                action=action, company=form.instance, actor=request.user, target=domain.domain
            )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "company")
    list_filter = ("company",)
    search_fields = ("name", "company__slug")
    list_select_related = ("company",)


@admin.register(Domain)
class DomainAdmin(AuditedSaveMixin, admin.ModelAdmin):
    """Domains are checked by ``Domain.clean`` here too (a move to another company cannot take
    the people who have emails in it), and audited like ``domain_add``."""

    list_display = ("domain", "company")
    search_fields = ("domain", "company__slug")
    list_select_related = ("company",)
    audit_noun, audit_created = "domain", "added"

    def audit_subject(self, obj: Domain) -> tuple[Company | None, str]:
        return obj.company, obj.domain


class TeamListFilter(admin.SimpleListFilter):
    """Teams, narrowed to the company chosen in the company filter (names repeat across
    companies, so each shows its company)."""

    title = "team"
    parameter_name = "team"

    def lookups(self, request, model_admin):
        teams = Team.objects.select_related("company").order_by("company__slug", "name")
        company = request.GET.get("company__id__exact")
        if company and company.isdigit():
            teams = teams.filter(company_id=int(company))
        return [("none", "No team")] + [(str(t.pk), f"{t.name} ({t.company.slug})") for t in teams]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(team__isnull=True)
        if value and value.isdigit():
            return queryset.filter(team_id=int(value))
        return queryset


class IdentityKeysUniqueMixin:
    """The keys an email and a userName are unique by (``email_key``, ``username_key``) are set
    by ``User.clean`` and are no form fields, so ModelForm does not check them: check them here,
    or a spelling of a taken email (``ſupport@`` beside ``support@``) would reach the database
    and fail there. (The model's clean, which every form runs, also applies the domain rule.)"""

    def _post_clean(self) -> None:
        super()._post_clean()
        user = self.instance
        others = User.objects.exclude(pk=user.pk) if user.pk else User.objects.all()
        if not self.has_error("email") and others.filter(email_key=user.email_key).exists():
            self.add_error("email", "A user with this email already exists.")
        # Without a userName field (the add form) the userName is the email (User.clean).
        field = "username" if "username" in self.fields else "email"
        if (
            user.company_id
            and not self.has_error(field)
            and others.filter(company_id=user.company_id, username_key=user.username_key).exists()
        ):
            self.add_error(field, "A user of this company already has this userName.")


class UserCreationForm(IdentityKeysUniqueMixin, DjangoUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "company", "role", "team")


class UserChangeForm(IdentityKeysUniqueMixin, DjangoUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


@admin.register(User)
class UserAdmin(PermittedActionsMixin, AuditedSaveMixin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    ordering = ("email",)
    list_display = (
        "email",
        "full_name",
        "company",
        "role",
        "team",
        "source",
        "is_active",
        "is_staff",
    )
    list_filter = ("company", "role", TeamListFilter, "source", "is_active", "is_staff")
    search_fields = ("email", "first_name", "last_name", "username", "company__slug")
    list_select_related = ("company", "team")
    readonly_fields = (
        "last_login",
        "date_joined",
        "source",
        "division",
        "deactivated_at",
        "scim_deleted_at",
    )
    # The deprovision and reactivate actions are provisioning's (provisioning/admin.py): they
    # end sessions and revoke tokens, one floor above accounts.

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or request.user.has_perm("accounts.change_user"):
            return fieldsets
        # Read-only visitors (the Support group) never see even the password's hash.
        return [
            (name, {**options, "fields": tuple(f for f in options["fields"] if f != "password")})
            for name, options in fieldsets
        ]

    fieldsets = (
        (None, {"fields": ("email", "username", "password")}),
        ("Person", {"fields": ("first_name", "last_name")}),
        ("Company", {"fields": ("company", "role", "team", "division", "source")}),
        (
            "Access",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined", "deactivated_at", "scim_deleted_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "company", "role", "team", "password1", "password2"),
            },
        ),
    )

    audit_noun = "user"

    def audit_subject(self, obj: User) -> tuple[Company | None, str]:
        return obj.company, obj.email
