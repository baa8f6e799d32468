# Installation and the Debian package (the `deb` target: builds tldb-server and tldb, then runs
# cpack): tldb-server and tldb in /usr/bin, the systemd unit, /etc/tldb/tldb.conf (a conffile)
# and the documentation with the Grafana dashboard in /usr/share/doc/tldb.
# Included by the top-level CMakeLists.txt once the targets exist.
include(GNUInstallDirs)
# Installing (and so packaging) needs only the two binaries, not every test and benchmark of
# `all`: the `deb` target below depends on just those.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(TLDB_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})
install(TARGETS tldb-server tldb RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${TLDB_PACKAGING_DIR}/tldb-server.service DESTINATION lib/systemd/system)
install(FILES ${TLDB_PACKAGING_DIR}/tldb.conf DESTINATION /etc/tldb)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${PROJECT_SOURCE_DIR}/docs/protocol.md ${PROJECT_SOURCE_DIR}/docs/design.md
              ${PROJECT_SOURCE_DIR}/docs/design-server.md ${PROJECT_SOURCE_DIR}/docs/format.md
              ${PROJECT_SOURCE_DIR}/docs/admin.md ${PROJECT_SOURCE_DIR}/docs/grafana-tldb.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tldb)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "tldb maintainers <tldb@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "timeline database for instant-messaging backends")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# gzip: the package is built by a test, and xz takes several times longer for little gain.
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${TLDB_PACKAGING_DIR}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
add_custom_target(deb
                  COMMAND ${CMAKE_CPACK_COMMAND} -G DEB --config ${CMAKE_BINARY_DIR}/CPackConfig.cmake
                  WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
                  COMMENT "Building the Debian package"
                  VERBATIM)
add_dependencies(deb tldb-server tldb)
