from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.contrib.auth.forms import UserCreationForm as DjangoUserCreationForm

from accounts.models import Company, Domain, Team, User
from audit.services import audit_record


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


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name", "domains__domain")
    inlines = [DomainInline, TeamInline]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            action="company.changed" if change else "company.created",
            company=obj,
            actor=request.user,
            target=obj.slug,
            details={"fields": form.changed_data},
        )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "company")
    list_filter = ("company",)
    search_fields = ("name", "company__slug")
    list_select_related = ("company",)


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "company")
    search_fields = ("domain", "company__slug")
    list_select_related = ("company",)


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


class UserCreationForm(DjangoUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "company", "role", "team")


class UserChangeForm(DjangoUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
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

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            action="user.changed" if change else "user.created",
            company=obj.company,
            actor=request.user,
            target=obj.email,
            details={"fields": form.changed_data},
        )
