# Writes OUT (env_commit.h) with the commit the build is made from: `git rev-parse --short HEAD`,
# with "-dirty" when tracked files differ from it, or "unknown" outside a git checkout. Runs at
# every build (cmake -P), and rewrites OUT only when the commit changed, so a rebuild after a
# commit records the new one and an unchanged tree recompiles nothing.
execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY ${ROOT}
  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc ERROR_QUIET)
if(rc EQUAL 0 AND commit)
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${ROOT}
    OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(changes)
    string(APPEND commit "-dirty")
  endif()
else()
  set(commit "unknown")
endif()
set(text "/* Generated at build time by harness/git_commit.cmake. */\n#define SGDSYNC_GIT_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
