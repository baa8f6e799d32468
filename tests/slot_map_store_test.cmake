# The sharded cluster's etcd keys against a real etcd (server/cluster/testing/etcd_cluster.h).
target_link_libraries(slot_map_store_test PRIVATE tldb_cluster_testing)
