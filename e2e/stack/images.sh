#!/usr/bin/env bash
# shellcheck disable=SC2317 # configure_* and cleanup are called by name, unseen by shellcheck
# Build the base images Slipway's Dockerfile templates name, and the Slipway image itself,
# from Debian packages only (no Docker engine, no pull from the internet), and push them.
#
#   e2e/stack/images.sh                 # all base images + slipway:dev
#   e2e/stack/images.sh base            # only $REGISTRY/base/*
#   e2e/stack/images.sh slipway         # only $REGISTRY/slipway:dev (bin/slipway from the tree)
#   e2e/stack/images.sh busybox maven   # some base images by name
#   e2e/stack/images.sh postgres        # PostgreSQL for .slipway.yaml services (not a language image)
#   e2e/stack/images.sh sbom-generator  # only $REGISTRY/slipway/sbom-generator (images/sbom-generator)
#
# `all` and `base` include sbom-generator: every build of the stack attaches its SBOM.
#
# Env: REGISTRY (127.0.0.1:5000), MIRROR / SECURITY_MIRROR (from /etc/apt/sources*),
#      REBUILD=1 (ignore cached layers), SLIPWAY_OCI_TAR=path (also write slipway:dev as an
#      OCI archive for `ctr images import`), SLIPWAY_TAG (dev), SLIPWAY_BIN=path (use this
#      static binary instead of building ./cmd/slipway), SBOM_GENERATOR_TAG (v1).
# State lives in .cache/images: the debootstrap rootfs and one gzipped layer per image. A second
# run only re-pushes what the registry lacks (ociimage HEADs every blob and the manifest).
# Needs root (debootstrap, chroot, mount).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# The layers depend only on Debian's packages and the host's Go, not on this
# checkout, so they live in a per-machine cache shared by every clone (like
# Go's module cache); SLIPWAY_IMAGE_CACHE moves it.
CACHE=${SLIPWAY_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/slipway/images}
TOOLS=$ROOT/.cache/tools
REGISTRY=${REGISTRY:-127.0.0.1:5000}
SUITE=bookworm
SLIPWAY_TAG=${SLIPWAY_TAG:-dev}
SBOM_GENERATOR_TAG=${SBOM_GENERATOR_TAG:-v1}
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/usr/local/go/bin:$DEFAULT_PATH
export LC_ALL=C

BASE_IMAGES=(busybox golang maven gradle jre node python postgres)

t0=$(date +%s)
log() { echo "[images $(($(date +%s) - t0))s] $*" >&2; }
die() { echo "images.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and mount need it)"
mkdir -p "$CACHE/layers" "$CACHE/work" "$TOOLS"
exec 9>"$CACHE/.lock"
flock -n 9 || die "another images.sh holds $CACHE/.lock"

# --- cleanup: unmount whatever we mounted, remove work trees --------------------------------
MOUNTS=()
cleanup() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
	rm -rf "$CACHE/work"
}
trap cleanup EXIT

# --- tools ----------------------------------------------------------------------------------
OCIIMAGE=$TOOLS/ociimage
tools() {
	# ociimage (e2e/stack/ociimage) assembles and pushes the images; it is ours: always rebuild (the go build cache makes this a no-op when unchanged).
	(cd "$ROOT" && CGO_ENABLED=0 go build -o "$OCIIMAGE" ./e2e/stack/ociimage) || die "cannot build e2e/stack/ociimage"
	command -v debootstrap >/dev/null || {
		log "apt-get install debootstrap"
		apt-get -o DPkg::Lock::Timeout=300 install -y -qq debootstrap >/dev/null ||
			{ apt-get update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq debootstrap >/dev/null; }
	}
	curl -sf "http://$REGISTRY/v2/" >/dev/null || die "no registry answers at http://$REGISTRY/v2/ (start e2e/stack/registry.sh, or set REGISTRY)"
}

# --- Debian mirror: the first URI in the host's apt sources that serves $SUITE (deb822 or one-line)
apt_uri() { # $1 = suite
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && awk -v s="$1" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == s) { print $i; exit } }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && awk -v s="$1" '
			/^[ \t]*$/ { if (u != "" && hit) { print u; exit } u = ""; hit = 0; next }
			/^URIs:/ { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
			END { if (u != "" && hit) print u }' "$f"
	done
}
MIRROR=${MIRROR:-$(apt_uri "$SUITE" | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-$(apt_uri "$SUITE-security" | head -1)}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# --- chroot helpers -------------------------------------------------------------------------
mount_proc() { # $1 = rootfs
	mount -t proc proc "$1/proc"
	MOUNTS+=("$1/proc")
}
umount_proc() {
	umount "$1/proc"
	MOUNTS=("${MOUNTS[@]:0:${#MOUNTS[@]}-1}")
}
in_root() { # $1 = rootfs, rest = command
	local r=$1
	shift
	chroot "$r" /usr/bin/env -i PATH=$DEFAULT_PATH HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"
}

# --- 1. the shared Debian base: debootstrap minbase + updates, cached as a plain tar ---------
BASE_TAR=$CACHE/debian-$SUITE-minbase.tar
base_rootfs() {
	[ -f "$BASE_TAR" ] && [ "${REBUILD:-0}" != 1 ] && return
	local r=$CACHE/work/debootstrap s
	s=$(date +%s)
	log "debootstrap --variant=minbase $SUITE from $MIRROR"
	rm -rf "$r"
	debootstrap --variant=minbase "$SUITE" "$r" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
		die "debootstrap failed, see $CACHE/debootstrap.log"
	cat >"$r/etc/apt/sources.list" <<-EOF
		deb $MIRROR $SUITE main
		deb $MIRROR $SUITE-updates main
		deb $SECURITY_MIRROR $SUITE-security main
	EOF
	# Keep every later install small: no recommends, no docs/man/locales (copyrights stay).
	cat >"$r/etc/apt/apt.conf.d/90slipway" <<-'EOF'
		APT::Install-Recommends "false";
		APT::Install-Suggests "false";
		Acquire::Languages "none";
	EOF
	cat >"$r/etc/dpkg/dpkg.cfg.d/90slipway-nodoc" <<-'EOF'
		path-exclude=/usr/share/doc/*
		path-include=/usr/share/doc/*/copyright
		path-exclude=/usr/share/man/*
		path-exclude=/usr/share/info/*
		path-exclude=/usr/share/locale/*
		path-include=/usr/share/locale/locale.alias
		path-exclude=/usr/share/lintian/*
	EOF
	# Services must not start inside the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
	chmod 755 "$r/usr/sbin/policy-rc.d"
	cp /etc/resolv.conf "$r/etc/resolv.conf"
	mount_proc "$r"
	in_root "$r" apt-get update -qq >>"$CACHE/debootstrap.log" 2>&1 || die "apt-get update in the base failed, see $CACHE/debootstrap.log"
	in_root "$r" apt-get -y -qq upgrade >>"$CACHE/debootstrap.log" 2>&1 || die "apt-get upgrade in the base failed, see $CACHE/debootstrap.log"
	in_root "$r" apt-get clean
	umount_proc "$r"
	# A non-root build/run user, the same uid as busybox's nobody and the Slipway image.
	echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh' >>"$r/etc/passwd"
	echo 'nonroot:x:65532:' >>"$r/etc/group"
	echo 'nonroot:*:19000:0:99999:7:::' >>"$r/etc/shadow"
	install -d -m 0755 -o 65532 -g 65532 "$r/home/nonroot"
	tar --numeric-owner --xattrs -C "$r" -cf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
	rm -rf "$r"
	log "base rootfs: $(du -h "$BASE_TAR" | cut -f1) in $(($(date +%s) - s))s"
}

# Strip what no build needs; keep copyright files and the dpkg database.
strip_rootfs() { # $1 = rootfs
	local r=${1:?strip_rootfs needs a rootfs}
	[ "$r" != / ] || die "refusing to strip /"
	rm -rf "${r:?}"/var/lib/apt/lists/* "${r:?}"/var/cache/apt/* "${r:?}"/var/cache/debconf/*-old \
		"${r:?}"/var/lib/dpkg/*-old "${r:?}"/usr/share/man "${r:?}"/usr/share/info "${r:?}"/usr/share/lintian \
		"${r:?}"/usr/share/linda "${r:?}"/root/.cache "${r:?}"/tmp/* "${r:?}"/var/tmp/* "${r:?}"/dev/* \
		"${r:?}"/usr/sbin/policy-rc.d
	find "$r/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
	find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
	find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
	find "$r/var/log" -type f -delete
	: >"$r/etc/resolv.conf"
	: >"$r/etc/machine-id" 2>/dev/null || true
	chmod 1777 "$r/tmp" "$r/var/tmp"
}

# Tar a rootfs into a gzipped layer, sorted and without timestamps in the gzip header.
# Extra args go to tar (the app layer pins mtimes so the same binary gives the same digest).
layer_from() { # $1 = rootfs, $2 = layer.tar.gz, rest = tar options
	local r=$1 out=$2
	shift 2
	tar --numeric-owner --xattrs --sort=name "$@" -C "$r" -cf - . | gzip -n -6 >"$out.tmp"
	mv "$out.tmp" "$out"
}

# --- 2. Debian-based images: copy the base, apt-get install, configure, strip, tar ----------
debian_layer() { # $1 = name, $2 = "packages", $3 = configure function (gets rootfs, prints the tag)
	local name=$1 pkgs=$2 configure=$3 r=$CACHE/work/$1 tag s
	s=$(date +%s)
	base_rootfs
	log "$name: apt-get install $pkgs"
	rm -rf "$r" && mkdir -p "$r"
	tar -C "$r" -xf "$BASE_TAR"
	cp /etc/resolv.conf "$r/etc/resolv.conf"
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d" && chmod 755 "$r/usr/sbin/policy-rc.d"
	mount_proc "$r"
	in_root "$r" apt-get update -qq >"$CACHE/$name.log" 2>&1 || die "$name: apt-get update failed, see $CACHE/$name.log"
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	in_root "$r" apt-get install -y -qq $pkgs >>"$CACHE/$name.log" 2>&1 || die "$name: apt-get install failed, see $CACHE/$name.log"
	tag=$("$configure" "$r") || die "$name: configure failed"
	in_root "$r" apt-get clean
	umount_proc "$r"
	strip_rootfs "$r"
	layer_from "$r" "$CACHE/layers/$name.tar.gz"
	echo "$tag" >"$CACHE/layers/$name.tag"
	echo "$pkgs" >"$CACHE/layers/$name.pkgs"
	rm -rf "$r"
	log "$name:$tag layer $(du -h "$CACHE/layers/$name.tar.gz" | cut -f1) in $(($(date +%s) - s))s"
}

# Each configure_* gets the rootfs (with /proc mounted) and prints the image tag.
major_minor() { sed -E 's/^[^0-9]*([0-9]+)\.([0-9]+).*/\1.\2/'; }

configure_golang() {
	local r=$1 goroot
	goroot=$(go env GOROOT)
	mkdir -p "$r/usr/local/go"
	# The toolchain as the host has it, minus its own test suite (not needed to build).
	tar -C "$goroot" --exclude=./test --exclude=./pkg/obj -cf - . | tar -C "$r/usr/local/go" -xf -
	chown -R 0:0 "$r/usr/local/go"
	install -d -m 1777 "$r/go" "$r/go/bin"
	in_root "$r" /usr/local/go/bin/go version >/dev/null
	go env GOVERSION | major_minor
}
configure_maven() {
	local r=$1 settings
	# Debian's /usr/share/maven/conf/settings.xml is a link to /etc/maven/settings.xml.
	settings=$r/etc/maven/settings.xml
	[ -e "$settings" ] || settings=$r/usr/share/maven/conf/settings.xml
	cat >"$settings" <<-'EOF'
		<?xml version="1.0" encoding="UTF-8"?>
		<!-- Slipway default: build offline against the plugins and libraries Debian ships in
		     /usr/share/maven-repo. Override this file (or pass -s) to use a repository mirror. -->
		<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0"
		          xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
		          xsi:schemaLocation="http://maven.apache.org/SETTINGS/1.0.0 https://maven.apache.org/xsd/settings-1.0.0.xsd">
		  <localRepository>/usr/share/maven-repo</localRepository>
		  <offline>true</offline>
		</settings>
	EOF
	in_root "$r" mvn -v >/dev/null 2>&1
	echo 3-jdk17
}
configure_gradle() {
	in_root "$1" gradle --version >/dev/null 2>&1 || true # first run may warn; only presence matters
	[ -x "$1/usr/bin/gradle" ] || return 1
	echo jdk17
}
configure_jre() {
	in_root "$1" java -version >/dev/null 2>&1
	echo 17
}
configure_node() {
	in_root "$1" node --version | sed -E 's/^v([0-9]+).*/\1/'
}
configure_python() {
	local v
	v=$(in_root "$1" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	# A build image is its own environment: let `pip install` work without --break-system-packages.
	rm -f "$1/usr/lib/python$v/EXTERNALLY-MANAGED"
	echo "$v"
}
# PostgreSQL for service containers: Debian's server, started by an entrypoint
# that makes a fresh cluster in /tmp on every start, as the image's non-root user.
configure_postgres() {
	local r=$1 v
	v=$(find "$r/usr/lib/postgresql" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -n | tail -1)
	[ -n "$v" ] && [ -x "$r/usr/lib/postgresql/$v/bin/postgres" ] || return 1
	# postgresql-common's postinst made a cluster "main" no container uses.
	rm -rf "$r/var/lib/postgresql/$v" "$r/etc/postgresql/$v"
	# A version-free path for PATH, so the image config does not depend on it.
	mkdir -p "$r/usr/local/lib/postgresql"
	ln -sfn "/usr/lib/postgresql/$v/bin" "$r/usr/local/lib/postgresql/bin"
	cat >"$r/usr/local/bin/slipway-postgres" <<-'EOF'
		#!/bin/sh
		# A throwaway PostgreSQL for tests: a new cluster in $PGDATA on every start, listening on
		# all addresses (port $PGPORT, default 5432). POSTGRES_USER (postgres) is the superuser;
		# with POSTGRES_PASSWORD set, connections need it (scram-sha-256), without it every
		# connection is trusted. POSTGRES_DB, when set, is created. Extra arguments go to postgres.
		set -eu
		: "${PGDATA:=/tmp/pgdata}" "${PGPORT:=5432}" "${POSTGRES_USER:=postgres}"
		export PGDATA PGPORT
		rm -rf "$PGDATA"
		mkdir -p "$PGDATA"
		chmod 700 "$PGDATA"
		auth=trust
		set -- -c listen_addresses='*' -c unix_socket_directories=/tmp -c port="$PGPORT" "$@"
		if [ -n "${POSTGRES_PASSWORD:-}" ]; then
			auth=scram-sha-256
			pw=$(mktemp)
			printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
			initdb -D "$PGDATA" -U "$POSTGRES_USER" -E UTF8 --no-locale --auth="$auth" --pwfile="$pw" >/dev/null
			rm -f "$pw"
		else
			initdb -D "$PGDATA" -U "$POSTGRES_USER" -E UTF8 --no-locale --auth="$auth" >/dev/null
		fi
		printf 'host all all 0.0.0.0/0 %s\nhost all all ::/0 %s\n' "$auth" "$auth" >>"$PGDATA/pg_hba.conf"
		if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
			printf 'CREATE DATABASE "%s";\n' "$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g')" |
				postgres --single -D "$PGDATA" postgres >/dev/null
		fi
		echo "slipway-postgres: $(postgres --version), superuser $POSTGRES_USER, $auth authentication, port $PGPORT"
		exec postgres -D "$PGDATA" "$@"
	EOF
	chmod 0755 "$r/usr/local/bin/slipway-postgres"
	in_root "$r" "/usr/lib/postgresql/$v/bin/postgres" --version >/dev/null
	echo "$v"
}
configure_slipway_base() {
	in_root "$1" git --version >/dev/null
	echo base
}

JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
declare -A PKGS=(
	[golang]="git ca-certificates"
	[maven]="openjdk-17-jdk-headless maven libmaven-compiler-plugin-java libmaven-jar-plugin-java libmaven-resources-plugin-java libmaven-install-plugin-java libsurefire-java junit4"
	[gradle]="openjdk-17-jdk-headless gradle"
	[jre]="openjdk-17-jre-headless"
	[node]="nodejs npm"
	[python]="python3 python3-venv python3-pip python3-pytest"
	[postgres]="postgresql"
	[slipway-base]="git ca-certificates"
)

# --- 3. busybox: busybox-static from Debian, no debootstrap ---------------------------------
busybox_layer() {
	local r=$CACHE/work/busybox d=$CACHE/work/busybox-deb a s
	s=$(date +%s)
	rm -rf "$r" "$d" && mkdir -p "$r"/{bin,etc,root,tmp} "$d"
	(cd "$d" && apt-get download busybox-static >"$CACHE/busybox.log" 2>&1) ||
		{ apt-get update -qq && (cd "$d" && apt-get download busybox-static >"$CACHE/busybox.log" 2>&1); } ||
		die "busybox: apt-get download busybox-static failed, see $CACHE/busybox.log"
	dpkg-deb -x "$d"/busybox-static_*.deb "$d/x"
	install -m 0755 "$d/x/bin/busybox" "$r/bin/busybox"
	# One link per applet at its usual path (/bin/sh, /usr/bin/env, /sbin/...).
	for a in $("$r/bin/busybox" --list-full); do
		[ "$a" = bin/busybox ] && continue
		mkdir -p "$r/$(dirname "$a")"
		ln -sf /bin/busybox "$r/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65532:65532:nobody:/nonexistent:/usr/sbin/nologin\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnobody:x:65532:\n' >"$r/etc/group"
	chmod 1777 "$r/tmp"
	chmod 0700 "$r/root"
	layer_from "$r" "$CACHE/layers/busybox.tar.gz"
	echo latest >"$CACHE/layers/busybox.tag"
	rm -rf "$r" "$d"
	log "busybox layer $(du -h "$CACHE/layers/busybox.tar.gz" | cut -f1) in $(($(date +%s) - s))s"
}

# --- 4. push ----------------------------------------------------------------------------------
# A Debian layer is rebuilt when its package list changed since it was made.
layer_ready() {
	[ "${REBUILD:-0}" != 1 ] && [ -s "$CACHE/layers/$1.tar.gz" ] && [ -s "$CACHE/layers/$1.tag" ] || return 1
	[ -z "${PKGS[$1]:-}" ] || [ "$(cat "$CACHE/layers/$1.pkgs" 2>/dev/null)" = "${PKGS[$1]}" ]
}

# Image config per name; PATH always first so every image can find its tools.
image_args() { # $1 = name
	case $1 in
	busybox) echo "-env PATH=$DEFAULT_PATH -cmd /bin/sh" ;;
	golang) echo "-env PATH=/go/bin:/usr/local/go/bin:$DEFAULT_PATH -env GOPATH=/go -env GOFLAGS=-buildvcs=false -env CGO_ENABLED=0 -env GOTOOLCHAIN=local -workdir /go -cmd /bin/bash" ;;
	maven) echo "-env PATH=$DEFAULT_PATH -env JAVA_HOME=$JAVA_HOME -env MAVEN_HOME=/usr/share/maven -cmd mvn -cmd -v" ;;
	gradle) echo "-env PATH=$DEFAULT_PATH -env JAVA_HOME=$JAVA_HOME -env GRADLE_OPTS=-Dorg.gradle.daemon=false -cmd gradle -cmd --version" ;;
	jre) echo "-env PATH=$DEFAULT_PATH -env JAVA_HOME=$JAVA_HOME -cmd java -cmd -version" ;;
	node) echo "-env PATH=$DEFAULT_PATH -cmd node" ;;
	python) echo "-env PATH=$DEFAULT_PATH -env PYTHONDONTWRITEBYTECODE=1 -cmd python3" ;;
	# Non-root: initdb refuses to run as root. PGHOST for pg_isready and psql in the container.
	postgres) echo "-env PATH=/usr/local/lib/postgresql/bin:$DEFAULT_PATH -env PGDATA=/tmp/pgdata -env PGHOST=127.0.0.1 -env HOME=/home/nonroot -user 65532:65532 -entrypoint /usr/local/bin/slipway-postgres" ;;
	*) die "unknown image $1" ;;
	esac
}

base_image() { # $1 = name
	local name=$1 tag
	if ! layer_ready "$name"; then
		case $name in
		busybox) busybox_layer ;;
		*) debian_layer "$name" "${PKGS[$name]}" "configure_$name" ;;
		esac
	fi
	tag=$(cat "$CACHE/layers/$name.tag")
	# shellcheck disable=SC2046 # image_args is a flag list
	"$OCIIMAGE" -layer "$CACHE/layers/$name.tar.gz" $(image_args "$name") -push "$REGISTRY/base/$name:$tag"
}

slipway_image() {
	local bin=$CACHE/work/slipway-bin app=$CACHE/work/slipway-app ref=$REGISTRY/slipway:$SLIPWAY_TAG
	layer_ready slipway-base || debian_layer slipway-base "${PKGS[slipway-base]}" configure_slipway_base
	if [ -n "${SLIPWAY_BIN:-}" ]; then
		[ -x "$SLIPWAY_BIN" ] || die "SLIPWAY_BIN=$SLIPWAY_BIN is not an executable file"
		! command -v file >/dev/null || grep -q 'statically linked' <<<"$(file -b "$SLIPWAY_BIN")" ||
			log "warning: $SLIPWAY_BIN does not look statically linked (build it with CGO_ENABLED=0)"
	else
		log "go build ./cmd/slipway"
		mkdir -p "$bin"
		(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$bin/slipway" ./cmd/slipway) ||
			die "./cmd/slipway does not build right now (errors above); nothing pushed for slipway:$SLIPWAY_TAG"
		SLIPWAY_BIN=$bin/slipway
	fi
	rm -rf "$app" && mkdir -p "$app/usr/local/bin"
	install -m 0755 "$SLIPWAY_BIN" "$app/usr/local/bin/slipway"
	layer_from "$app" "$CACHE/layers/slipway-app.tar.gz" --mtime=@0 --owner=0 --group=0 --pax-option=delete=atime,delete=ctime
	local out=()
	[ -n "${SLIPWAY_OCI_TAR:-}" ] && out=(-oci-tar "$SLIPWAY_OCI_TAR" -oci-name "$ref")
	"$OCIIMAGE" -layer "$CACHE/layers/slipway-base.tar.gz" -layer "$CACHE/layers/slipway-app.tar.gz" \
		-env "PATH=$DEFAULT_PATH" -env HOME=/home/nonroot -user 65532:65532 -workdir /home/nonroot \
		-entrypoint /usr/local/bin/slipway -cmd --help -push "$ref" "${out[@]}"
}

# --- 5. the SBOM generator BuildKit runs for attest:sbom -------------------------------------
# images/sbom-generator is its own Go module (syft's dependency graph stays out of Slipway's).
# One static binary, no shell: BuildKit mounts the rootfs to scan, a tmpfs on /tmp and the
# output dir, and runs the entrypoint as root. A cold build of the binary (every syft module
# downloaded and compiled) takes minutes; after that the Go build cache makes it a no-op.
sbom_generator_image() {
	local app=$CACHE/work/sbom-generator ref=$REGISTRY/slipway/sbom-generator:$SBOM_GENERATOR_TAG s
	s=$(date +%s)
	log "go build images/sbom-generator"
	rm -rf "$app" && mkdir -p "$app/usr/local/bin" "$app/tmp"
	(cd "$ROOT/images/sbom-generator" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$app/usr/local/bin/sbom-generator" .) ||
		die "images/sbom-generator does not build (errors above); nothing pushed for $ref"
	chmod 1777 "$app/tmp"
	layer_from "$app" "$CACHE/layers/sbom-generator.tar.gz" --mtime=@0 --owner=0 --group=0 --pax-option=delete=atime,delete=ctime
	"$OCIIMAGE" -layer "$CACHE/layers/sbom-generator.tar.gz" -env "PATH=$DEFAULT_PATH" -env HOME=/tmp -env TMPDIR=/tmp \
		-entrypoint /usr/local/bin/sbom-generator -push "$ref"
	log "sbom-generator: $ref in $(($(date +%s) - s))s"
}

main() {
	local targets=("$@") t
	[ ${#targets[@]} -gt 0 ] || targets=(all)
	tools
	for t in "${targets[@]}"; do
		case $t in
		all) for n in "${BASE_IMAGES[@]}"; do base_image "$n"; done; sbom_generator_image; slipway_image ;;
		base) for n in "${BASE_IMAGES[@]}"; do base_image "$n"; done; sbom_generator_image ;;
		slipway) slipway_image ;;
		sbom-generator) sbom_generator_image ;;
		busybox | golang | maven | gradle | jre | node | python | postgres) base_image "$t" ;;
		*) die "unknown target $t (all, base, slipway, sbom-generator, ${BASE_IMAGES[*]})" ;;
		esac
	done
	log "done"
}

main "$@"
exit
