# Installs the built hup into a scratch prefix, then configures, builds and runs
# examples/consumer against it with find_package(hup): the user's path, end to end.
set(prefix ${BUILD_DIR}/consumer-test/prefix)
set(consumer_build ${BUILD_DIR}/consumer-test/build)
file(REMOVE_RECURSE ${BUILD_DIR}/consumer-test)
foreach (step
    "${CMAKE_COMMAND};--install;${BUILD_DIR};--prefix;${prefix}"
    "${CMAKE_COMMAND};-S;${SOURCE_DIR}/examples/consumer;-B;${consumer_build};-G;Ninja;-DCMAKE_PREFIX_PATH=${prefix}"
    "${CMAKE_COMMAND};--build;${consumer_build}"
    "${consumer_build}/consumer"
    "${consumer_build}/consumer_static")
  execute_process(COMMAND ${step} RESULT_VARIABLE result)
  if (NOT result EQUAL 0)
    message(FATAL_ERROR "consumer test step failed (${result}): ${step}")
  endif ()
endforeach ()
