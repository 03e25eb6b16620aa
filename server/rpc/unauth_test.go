package rpc

import (
	"context"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexus-authz/nexus/errs"
)

// TestEveryHandlerNeedsAPrincipal calls every procedure of every Nexus
// handler without a principal on the context (as if the auth interceptor
// were left out): each refuses with Unauthenticated before touching its
// service (which is nil here, so a handler that reached it would panic).
func TestEveryHandlerNeedsAPrincipal(t *testing.T) {
	t.Parallel()
	public := map[string]bool{
		// Share links are opened without a key: the link's secret is the
		// credential (tested end to end in server).
		"SharingHandler.OpenLink":  true,
		"SharingHandler.WriteLink": true,
	}
	ctxType := reflect.TypeFor[context.Context]()
	errType := reflect.TypeFor[error]()
	for _, h := range []any{&FilesHandler{}, &IdentityHandler{}, &MemoryHandler{}, &SearchHandler{}, &SharingHandler{}} {
		v := reflect.ValueOf(h)
		for i := range v.NumMethod() {
			m := v.Type().Method(i)
			ft := m.Type // receiver first
			if ft.NumIn() != 3 || ft.In(1) != ctxType || ft.NumOut() != 2 || ft.Out(1) != errType {
				continue
			}
			name := v.Elem().Type().Name() + "." + m.Name
			if public[name] {
				continue
			}
			req := reflect.New(ft.In(2).Elem()) // *connect.Request[T]
			msg := req.Elem().FieldByName("Msg")
			if !msg.IsValid() {
				continue // a streaming procedure: none so far
			}
			msg.Set(reflect.New(msg.Type().Elem()))
			t.Run(name, func(t *testing.T) {
				out := v.Method(i).Call([]reflect.Value{reflect.ValueOf(context.Background()), req})
				err, _ := out[1].Interface().(error)
				require.ErrorIs(t, err, errs.Unauthenticated)
				require.True(t, out[0].IsNil())
			})
		}
	}
}
