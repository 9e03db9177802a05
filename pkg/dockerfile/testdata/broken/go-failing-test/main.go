// Command hello serves a greeting over HTTP on $PORT (default 8080); its
// unit test expects a different greeting, so the test step fails.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func greet(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "hello, world")
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", greet)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
