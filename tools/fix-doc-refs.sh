#!/bin/sh
# Point comments at the repository's own behaviour reference instead of documents that live
# outside it: `mgetty-behaviour.md §N` -> `docs/behaviour.md §N`, xringd-behaviour.md's
# sections -> `docs/behaviour.md §R1/§R2`, crates.md "Test-harness facts" -> docs/platform.md.
#
# Only comments in src/**/*.rs and tests/**/*.rs are rewritten (the part of a line from the
# first `//`), plus plain mentions in docs/*.md. Idempotent: a second run changes nothing.
# Check the result with `cargo test --test doc_refs`.
#
# Usage: sh tools/fix-doc-refs.sh [REPO_DIR]   (default: the repository holding this script)
set -eu
cd "${1:-$(dirname "$0")/..}"

files=$(find src tests -name '*.rs' -type f | sort)
[ -n "$files" ] || exit 0

# Multi-line form first: (`xringd-behaviour.md`,\n//! "Matching");
# shellcheck disable=SC2086
perl -0777 -pi -e '
  s{`xringd-behaviour\.md`,\n([ \t]*//[!/]?)[ \t]*"Matching(?: \(observed\))?"\)}{`docs/behaviour.md`\n$1 §R2)}g;
' $files

# shellcheck disable=SC2086
perl -pi -e '
  if (m{^(.*?)(//.*)$}s) {
    my ($code, $c) = ($1, $2);
    $c =~ s{`xringd-behaviour\.md`,?\s*"Config file"}{`docs/behaviour.md` §R1}g;
    $c =~ s{`?xringd-behaviour\.md`?,?\s*"Matching(?: \(observed\))?"}{docs/behaviour.md §R2}g;
    $c =~ s{as in xringd-behaviour\.md}{as in docs/behaviour.md §R2}g;
    $c =~ s{(?:the )?xringd-behaviour\.md(?:\x27s)?}{the docs/behaviour.md §R2}g;
    $c =~ s{`?crates\.md`?,?\s*"Test-harness facts"}{docs/platform.md §P1}g;
    $c =~ s{(?<![\w/.-])mgetty-behaviour\.md}{docs/behaviour.md}g;
    $_ = $code . $c;
  }
' $files

# Markdown in docs/ (not the references themselves): plain mentions.
for f in docs/*.md; do
  [ -f "$f" ] || continue
  case "$f" in docs/behaviour.md|docs/platform.md) continue ;; esac
  perl -pi -e 's{(?<![\w/.-])mgetty-behaviour\.md}{behaviour.md}g' "$f"
done
