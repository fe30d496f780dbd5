add_executable(test_odr_two_units ${CMAKE_CURRENT_LIST_DIR}/odr/a.cpp ${CMAKE_CURRENT_LIST_DIR}/odr/b.cpp)
target_link_libraries(test_odr_two_units PRIVATE twin::twin twin_project_warnings twin_project_sanitize)
add_test(NAME test_odr_two_units COMMAND test_odr_two_units)
