package dockerfile

import (
	"strings"
	"testing"
)

type versionCase struct {
	name, in, want, wantErr string
}

func checkVersions(t *testing.T, tests []versionCase, f func(string) (string, error)) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGoVersion(t *testing.T) {
	checkVersions(t, []versionCase{
		{name: "minor", in: "module m\n\ngo 1.22\n", want: "1.22"},
		{name: "patch", in: "module m\n\ngo 1.22.3\n", want: "1.22"},
		{name: "toolchain wins", in: "module m\ngo 1.21\ntoolchain go1.23.4\n", want: "1.23"},
		{name: "toolchain default", in: "module m\ngo 1.21.0\ntoolchain default\n", want: "1.21"},
		{name: "release candidate", in: "module m\ngo 1.24rc1\n", want: "1.24"},
		{name: "comment", in: "module m\ngo 1.22 // pinned\n", want: "1.22"},
		{name: "none", in: "module m\n", want: ""},
		{name: "garbage", in: "module m\ngo banana\n", wantErr: `cannot read Go version "banana"`},
	}, func(s string) (string, error) { return GoVersion([]byte(s)) })
}

func pomWith(props, plugins string) string {
	return `<project><modelVersion>4.0.0</modelVersion><properties>` + props +
		`</properties><build><plugins>` + plugins + `</plugins></build></project>`
}

func TestMavenJavaVersion(t *testing.T) {
	checkVersions(t, []versionCase{
		{name: "release property", in: pomWith(`<maven.compiler.release>17</maven.compiler.release>`, ""), want: "17"},
		{name: "source property", in: pomWith(`<maven.compiler.source>11</maven.compiler.source><maven.compiler.target>11</maven.compiler.target>`, ""), want: "11"},
		{name: "old style 1.8", in: pomWith(`<maven.compiler.source>1.8</maven.compiler.source>`, ""), want: "8"},
		{name: "plugin release", in: pomWith("", `<plugin><artifactId>maven-compiler-plugin</artifactId><configuration><release>21</release></configuration></plugin>`), want: "21"},
		{name: "plugin source", in: pomWith("", `<plugin><artifactId>maven-compiler-plugin</artifactId><configuration><source>1.8</source></configuration></plugin>`), want: "8"},
		{name: "release beats source", in: pomWith(`<maven.compiler.source>11</maven.compiler.source><maven.compiler.release>17</maven.compiler.release>`, ""), want: "17"},
		{name: "property reference", in: pomWith(`<java.version>21</java.version>`, `<plugin><artifactId>maven-compiler-plugin</artifactId><configuration><release>${java.version}</release></configuration></plugin>`), want: "21"},
		{name: "spring java.version", in: pomWith(`<java.version>17</java.version>`, ""), want: "17"},
		{name: "other plugin ignored", in: pomWith("", `<plugin><artifactId>maven-javadoc-plugin</artifactId><configuration><release>8</release></configuration></plugin>`), want: ""},
		{name: "undefined property", in: pomWith(`<maven.compiler.release>${jdk}</maven.compiler.release>`, ""), wantErr: `undefined property "jdk"`},
		{name: "not xml", in: "<project>", wantErr: "parsing pom.xml"},
	}, func(s string) (string, error) { return MavenJavaVersion([]byte(s)) })
}

func TestGradleJavaVersion(t *testing.T) {
	checkVersions(t, []versionCase{
		{name: "groovy toolchain", in: "java {\n  toolchain {\n    languageVersion = JavaLanguageVersion.of(17)\n  }\n}\n", want: "17"},
		{name: "kts toolchain", in: "java {\n    toolchain {\n        languageVersion.set(JavaLanguageVersion.of(21))\n    }\n}\n", want: "21"},
		{name: "kotlin jvmToolchain", in: "kotlin {\n    jvmToolchain(11)\n}\n", want: "11"},
		{name: "sourceCompatibility enum", in: "sourceCompatibility = JavaVersion.VERSION_11\n", want: "11"},
		{name: "sourceCompatibility 1_8", in: "java.sourceCompatibility = JavaVersion.VERSION_1_8\n", want: "8"},
		{name: "sourceCompatibility string", in: "sourceCompatibility = '17'\n", want: "17"},
		{name: "sourceCompatibility number", in: "sourceCompatibility = 1.8\n", want: "8"},
		{name: "toolchain beats sourceCompatibility", in: "sourceCompatibility = 11\njava { toolchain { languageVersion = JavaLanguageVersion.of(17) } }\n", want: "17"},
		{name: "commented out", in: "// languageVersion = JavaLanguageVersion.of(8)\n/* sourceCompatibility = 11 */\n", want: ""},
		{name: "none", in: "plugins { id 'java' }\n", want: ""},
	}, func(s string) (string, error) { return GradleJavaVersion([]byte(s)) })
}

func TestPythonVersionFile(t *testing.T) {
	checkVersions(t, []versionCase{
		{name: "patch", in: "3.12.1\n", want: "3.12"},
		{name: "minor", in: "3.11", want: "3.11"},
		{name: "pyenv name", in: "python-3.10.4", want: "3.10"},
		{name: "garbage", in: "system", wantErr: "cannot read"},
	}, func(s string) (string, error) { return PythonVersionFile([]byte(s)) })
}

func TestRequiresPython(t *testing.T) {
	checkVersions(t, []versionCase{
		{name: "double quotes", in: "[project]\nname = \"x\"\nrequires-python = \">=3.11\"\n", want: ">=3.11"},
		{name: "single quotes and comment", in: "[project]\nrequires-python = '~=3.12' # pinned\n", want: "~=3.12"},
		{name: "other table", in: "[tool.poetry]\nrequires-python = \">=3.9\"\n[project]\nname = \"x\"\n", want: ""},
	}, func(s string) (string, error) { return requiresPython([]byte(s)), nil })
}
