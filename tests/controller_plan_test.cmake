# ControllerPlan: pure functions of the cluster library (no etcd).
target_link_libraries(controller_plan_test PRIVATE tldb_cluster)
