# twin/io/image.hpp in two translation units plus a project's own stb_image: links and runs.
add_executable(test_image_odr ${CMAKE_CURRENT_LIST_DIR}/image_odr/a.cpp ${CMAKE_CURRENT_LIST_DIR}/image_odr/b.cpp
                              ${CMAKE_CURRENT_LIST_DIR}/image_odr/own_stb.cpp)
target_link_libraries(test_image_odr PRIVATE twin::twin twin_project_warnings twin_project_sanitize)
# stb's own implementation is third-party code: no -Werror for it.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/image_odr/own_stb.cpp PROPERTIES COMPILE_OPTIONS "-w")
add_test(NAME test_image_odr COMMAND test_image_odr)
