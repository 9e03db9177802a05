// Command broken does not compile: greting is a typo for greet.
package main

import (
	"fmt"
	"log"
	"net/http"
)

func greet(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "hello, world")
}

func main() {
	http.HandleFunc("/", greting)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
