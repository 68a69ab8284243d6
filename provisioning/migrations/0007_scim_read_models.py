"""ScimUserTally and ScimGroupMembers, and the triggers on accounts_user that keep them
(provisioning/scim_triggers.py, installed again after every migrate)."""

from django.db import migrations, models

from provisioning.scim_triggers import install_scim_triggers, remove_scim_triggers


def install(apps, schema_editor):
    install_scim_triggers(schema_editor.connection)


def remove(apps, schema_editor):
    remove_scim_triggers(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0008_user_scim_visible_index'),
        ('provisioning', '0006_support_reads_refusal_tallies'),
    ]

    operations = [
        migrations.CreateModel(
            name='ScimGroupMembers',
            fields=[
                ('team_id', models.BigIntegerField(primary_key=True, serialize=False)),
                ('version', models.BigIntegerField(default=0)),
                ('changed_at', models.DateTimeField()),
            ],
            options={
                'verbose_name': 'SCIM group member list version',
            },
        ),
        migrations.CreateModel(
            name='ScimUserTally',
            fields=[
                ('company_id', models.BigIntegerField(primary_key=True, serialize=False)),
                ('users', models.BigIntegerField(default=0)),
                ('generation', models.BigIntegerField(default=0)),
            ],
            options={
                'verbose_name': 'SCIM user tally',
            },
        ),
        migrations.RunPython(install, remove),
    ]
