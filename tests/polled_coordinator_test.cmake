# PolledCoordinator over a fake coordinator (no etcd needed).
target_link_libraries(polled_coordinator_test PRIVATE tldb_cluster)
