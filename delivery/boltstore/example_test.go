package boltstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/consign/consign/delivery"
	"github.com/consign/consign/delivery/boltstore"
	pkg "github.com/consign/consign/package"
)

// A Site keeps its objects in a bbolt file: after the store is closed and
// opened again, a new Site over it finds them.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "consign")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "site.db")

	store, err := boltstore.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	site, err := delivery.Open(ctx, store, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	office := pkg.NewPackage("", "Office") // the Site assigns the ID
	office.Manufacturer = "Contoso"
	p, err := site.CreatePackage(ctx, office)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", p.ID, p.Name)
	site.Close()
	store.Close()

	store, err = boltstore.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	site, err = delivery.Open(ctx, store, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer site.Close()
	for _, q := range site.Packages() {
		fmt.Println("after reopening:", q.ID, q.Manufacturer, q.Name)
	}
	// Output:
	// created CEN00001 Office
	// after reopening: CEN00001 Contoso Office
}
