package loader

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// watcher keeps an Attachment on every interface that is up in one
// network namespace (Options.Any). It subscribes to the namespace's link
// updates, then lists the links, so that no interface can appear unseen
// in between; an interface seen twice is attached once (Add is
// idempotent by index).
//
// Attaching by ifindex works in the network namespace of the calling
// thread, so the watcher runs on an OS thread of its own that has entered
// the namespace and is never unlocked: it ends with the goroutine.
type watcher struct {
	a      *Attachment
	notify func(string)

	done     chan struct{} // closed by stop
	exited   chan struct{} // closed when run returns
	stopOnce sync.Once

	// skipped holds interfaces not attached (link type without program,
	// or attaching failed), so a stream of updates about them notes them
	// once; going down or away clears them, so coming up retries.
	skipped map[int]bool
}

// startWatcher follows the calling thread's network namespace. It returns
// once every interface up now is attached; an interface that cannot be
// attached for a reason other than its link type fails it.
func startWatcher(a *Attachment, notify func(string)) (*watcher, error) {
	if notify == nil {
		notify = func(string) {}
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("opening the network namespace: %w", err)
	}
	w := &watcher{a: a, notify: notify, done: make(chan struct{}), exited: make(chan struct{}), skipped: map[int]bool{}}
	ready := make(chan error, 1)
	go w.run(ns, ready)
	if err := <-ready; err != nil {
		w.stop()
		return nil, err
	}
	return w, nil
}

// stop ends the watcher and waits for it: after stop nothing is attached
// behind the caller's back.
func (w *watcher) stop() {
	w.stopOnce.Do(func() { close(w.done) })
	<-w.exited
}

func (w *watcher) run(ns netns.NsHandle, ready chan<- error) {
	defer close(w.exited)
	runtime.LockOSThread() // never unlocked; see watcher
	err := netns.Set(ns)
	ns.Close()
	if err != nil {
		ready <- fmt.Errorf("entering the network namespace: %w", err)
		return
	}
	first := true
	for {
		updates := make(chan netlink.LinkUpdate, 256)
		subDone := make(chan struct{})
		err := netlink.LinkSubscribeWithOptions(updates, subDone, netlink.LinkSubscribeOptions{
			ErrorCallback:     func(error) {}, // a failed receive closes updates, which says enough
			ReceiveBufferSize: 1 << 20,
		})
		if err != nil {
			updates = nil // never closed: nothing to drain
			err = fmt.Errorf("subscribing to interface updates: %w", Explain(err))
		} else {
			err = w.sync(first)
		}
		if first {
			ready <- err
			first = false
			if err != nil {
				close(subDone)
				drain(updates)
				return
			}
		} else if err != nil {
			w.notify(fmt.Sprintf("following interfaces: %v; retrying", err))
		}
		stopped := err != nil || w.follow(updates)
		close(subDone)
		drain(updates)
		if !stopped {
			// The socket failed (ENOBUFS after a burst of updates):
			// subscribe again, and listing the links catches up.
			w.notify("interface updates were lost; listing interfaces again")
			continue
		}
		select {
		case <-w.done:
			return
		case <-time.After(time.Second): // retry a failed subscription
		}
	}
}

// drain lets the subscription's receiver end: it closes updates once the
// socket is closed, but may be blocked sending one.
func drain(updates <-chan netlink.LinkUpdate) {
	if updates == nil {
		return
	}
	for range updates {
	}
}

// follow applies updates until stop (true) or until the subscription
// fails (false).
func (w *watcher) follow(updates <-chan netlink.LinkUpdate) bool {
	for {
		select {
		case <-w.done:
			return true
		case u, ok := <-updates:
			if !ok {
				return false
			}
			switch u.Header.Type {
			case unix.RTM_NEWLINK:
				w.linkUp(u.Link, true)
			case unix.RTM_DELLINK:
				w.linkGone(int(u.Attrs().Index))
			}
		}
	}
}

// sync attaches to every link that is up and detaches from attached ones
// that are gone. On the first sync, errors other than a link type with no
// program fail it.
func (w *watcher) sync(first bool) error {
	w.a.mu.Lock() // the handle is not for concurrent use
	if w.a.nl == nil {
		w.a.mu.Unlock()
		return errors.New("attachment closed")
	}
	links, err := w.a.nl.LinkList()
	w.a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("listing interfaces: %w", err)
	}
	present := map[int]bool{}
	for _, l := range links {
		present[l.Attrs().Index] = true
		if err := w.linkUp(l, !first); err != nil && first && !errors.Is(err, ErrUnsupportedLink) {
			return err
		}
	}
	for _, i := range w.a.Interfaces() {
		if !present[i.Index] {
			w.linkGone(i.Index)
		}
	}
	return nil
}

// linkUp handles a link that exists: attached when up and not yet, its
// name followed when renamed.
func (w *watcher) linkUp(l netlink.Link, say bool) error {
	attrs := l.Attrs()
	w.a.rename(attrs.Index, attrs.Name) // if attached under another name
	if attrs.Flags&net.FlagUp == 0 {
		delete(w.skipped, attrs.Index) // coming up again retries
		return nil
	}
	if w.skipped[attrs.Index] {
		return nil
	}
	w.a.mu.Lock()
	if w.a.nl == nil {
		w.a.mu.Unlock()
		return errors.New("attachment closed")
	}
	before := len(w.a.ifaces)
	i, err := w.a.addLink(l)
	added := len(w.a.ifaces) > before
	w.a.mu.Unlock()
	switch {
	case err != nil:
		w.skipped[attrs.Index] = true
		if errors.Is(err, ErrUnsupportedLink) {
			w.notify(fmt.Sprintf("not capturing on %s: %v", attrs.Name, err))
		} else {
			w.notify(fmt.Sprintf("cannot capture on %s: %v", attrs.Name, err))
		}
		return err
	case added && say:
		w.notify(fmt.Sprintf("capturing on %s too (ingress %s, egress %s)", i.Name, hookName(i.Ingress), i.Egress))
	}
	return nil
}

// linkGone detaches from a link that was deleted or left the namespace.
func (w *watcher) linkGone(index int) {
	delete(w.skipped, index)
	name := ""
	for _, i := range w.a.Interfaces() {
		if i.Index == index {
			name = i.Name
		}
	}
	if name == "" {
		return
	}
	if err := w.a.Remove(index); err != nil {
		w.notify(fmt.Sprintf("detaching from %s: %v", name, err))
		return
	}
	w.notify(fmt.Sprintf("%s is gone: detached", name))
}

func hookName(h Hook) string {
	if h == HookNone {
		return "none"
	}
	return string(h)
}
