"""Keep a socket in its processor's flow, and a plug's two sockets in the plug's flow, at the database level.

Django has no composite foreign keys, so these are written in SQL against the (id, flow) unique constraints of
migration 0001.
"""

from django.db import migrations

CONSTRAINTS = [
    ("flows_socket", "socket_processor_same_flow", "(processor_id, flow_id)", "flows_processor (id, flow_id)"),
    ("flows_plug", "plug_source_same_flow", "(source_id, flow_id)", "flows_socket (id, flow_id)"),
    ("flows_plug", "plug_target_same_flow", "(target_id, flow_id)", "flows_socket (id, flow_id)"),
]


class Migration(migrations.Migration):
    dependencies = [("flows", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY {columns} REFERENCES {target} "
            "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED",
            reverse_sql=f"ALTER TABLE {table} DROP CONSTRAINT {name}",
        )
        for table, name, columns, target in CONSTRAINTS
    ]
