#!/usr/bin/env bash
# Refresh the explorer's vendored assets (static/) from the npm registry with `npm pack`: the files strawberry's
# GraphiQL page asks for, at the versions it names, each package's licence beside them. After a strawberry upgrade,
# set the versions below to those of its static/graphiql.html and run this; tests/schema/test_explorer.py then
# checks that every asset the page names is here and matches its integrity hash.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
static="$here/static"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpack() {  # package@version -> the unpacked package's folder
    local spec=$1 tarball
    tarball=$(cd "$work" && npm pack --silent "$spec" | tail -n 1)
    mkdir -p "$work/$spec"
    tar xzf "$work/$tarball" -C "$work/$spec"
    echo "$work/$spec/package"
}

vendor() {  # package@version file... (paths inside the package); its LICENSE comes along when it ships one
    local spec=$1 package
    shift
    package=$(unpack "$spec")
    rm -rf "${static:?}/$spec"
    for file in "$@" LICENSE; do
        if [ -f "$package/$file" ]; then
            mkdir -p "$(dirname "$static/$spec/$file")"
            cp "$package/$file" "$static/$spec/$file"
        fi
    done
}

vendor react@18.2.0 umd/react.production.min.js
vendor react-dom@18.2.0 umd/react-dom.production.min.js
vendor js-cookie@3.0.5 dist/js.cookie.min.js
vendor graphiql@3.8.3 graphiql.min.js graphiql.min.css
vendor @graphiql/plugin-explorer@1.0.2 dist/index.umd.js dist/style.css

# One error message of graphiql.min.js (a hint for React 15) names two public CDNs in parentheses; this project's
# files name no CDN or registry host, so the parenthesis goes. The file then no longer matches the integrity hash
# of strawberry's page, and the page serves it without one (schema/explorer/__init__.py, PATCHED).
sed -i -E 's/a CDN source \([^)]*\)/a CDN source/' "$static/graphiql@3.8.3/graphiql.min.js"

# @graphiql/plugin-explorer ships no licence file (its package.json says MIT). It comes from the same repository as
# graphiql, whose MIT licence is the one it is published under, and it bundles graphiql-explorer 0.9.0 (MIT).
explorer="$static/@graphiql/plugin-explorer@1.0.2"
{
    echo "@graphiql/plugin-explorer 1.0.2 is published under the MIT licence (its package.json) and ships no"
    echo "licence file. It comes from the same repository (graphql/graphiql) as graphiql, whose licence follows;"
    echo "its dist/index.umd.js bundles graphiql-explorer 0.9.0, whose licence follows that."
    echo
    echo "---- graphiql ----"
    echo
    cat "$static/graphiql@3.8.3/LICENSE"
    echo
    echo "---- graphiql-explorer 0.9.0 ----"
    echo
    cat "$(unpack graphiql-explorer@0.9.0)/LICENSE"
} > "$explorer/LICENSE"

# The integrity hashes (sha384) to compare with those of strawberry's page.
(cd "$static" && find . -name '*.js' -o -name '*.css' | sort | while read -r file; do
    echo "${file#./} sha384-$(openssl dgst -sha384 -binary "$file" | openssl base64 -A)"
done)
