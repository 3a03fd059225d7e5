-- The tasks leased to a node, read with every heartbeat of every node (its
-- leases reconciled, many nodes in one statement): tasks_node holds every
-- task a node ever ran, this one only those in flight.
CREATE INDEX tasks_node_leased ON tasks (node_id) WHERE lease_id <> '';
