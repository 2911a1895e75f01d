// Command report serves the current stock balances as JSON over HTTP.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"sort"
	"sync"
)

// Store holds balances behind a lock, since handlers run concurrently.
type Store struct {
	mu       sync.RWMutex
	balances map[string]int
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{balances: make(map[string]int)}
}

// Set records the counted quantity of a SKU.
func (s *Store) Set(sku string, quantity int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balances[sku] = quantity
}

// Low lists the SKUs at or below the threshold, sorted.
func (s *Store) Low(threshold int) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var low []string
	for sku, quantity := range s.balances {
		if quantity <= threshold {
			low = append(low, sku)
		}
	}
	sort.Strings(low)
	return low
}

func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(s.balances); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func main() {
	store := NewStore()
	store.Set("BOLT-M6", 120)
	store.Set("NUT-M6", 4)
	http.Handle("/balances", store)
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}
