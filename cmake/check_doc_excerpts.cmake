# Checks that every file a Markdown page shows verbatim is shown as it is in the tree:
#   cmake -DDOC=docs/page.md -DROOT=<source dir> -P cmake/check_doc_excerpts.cmake
# An excerpt is the fenced block right after a line `<!-- verbatim: path/in/tree -->`.
# Used by the getting_started_doc test, so the guide cannot drift from the program it shows.
file(READ "${DOC}" doc)
string(REGEX MATCHALL "<!-- verbatim: [^ ]+ -->" markers "${doc}")
if(NOT markers)
  message(FATAL_ERROR "${DOC}: no <!-- verbatim: ... --> excerpt")
endif()
foreach(marker IN LISTS markers)
  string(REGEX REPLACE "<!-- verbatim: ([^ ]+) -->" "\\1" path "${marker}")
  string(FIND "${doc}" "${marker}" at)
  string(SUBSTRING "${doc}" ${at} -1 rest)
  # The block: from the line after the opening fence to the closing fence.
  string(REGEX MATCH "\n```[a-z]*\n" open "${rest}")
  string(FIND "${rest}" "${open}" open_at)
  string(LENGTH "${open}" open_len)
  math(EXPR body_at "${open_at} + ${open_len}")
  string(SUBSTRING "${rest}" ${body_at} -1 body)
  string(FIND "${body}" "\n```\n" close_at)
  if(close_at LESS 0)
    message(FATAL_ERROR "${DOC}: the block after '${marker}' is not closed")
  endif()
  math(EXPR close_at "${close_at} + 1")  # keep the block's last newline
  string(SUBSTRING "${body}" 0 ${close_at} shown)
  file(READ "${ROOT}/${path}" actual)
  if(NOT shown STREQUAL actual)
    message(FATAL_ERROR "${DOC} shows ${path}, but not as it is in the tree: copy the file into the page again")
  endif()
  message(STATUS "${DOC}: ${path} shown verbatim")
endforeach()
