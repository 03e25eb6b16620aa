package main

import (
	"bytes"
	"encoding/json"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// cliJSON renders m for --json: protojson with every field, zero or not
// (a script reads "allowed": false, not a missing key), and 64-bit
// integers as JSON numbers rather than the strings protojson writes for
// them (sizes and versions are what jq compares). Keys come out sorted.
func cliJSON(m proto.Message) ([]byte, error) {
	b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.MarshalIndent(int64sAsNumbers(m.ProtoReflect().Descriptor(), v), "", "  ")
}

// int64sAsNumbers turns the 64-bit integer fields of v, the JSON of a
// message described by md, from strings into numbers, recursively.
func int64sAsNumbers(md protoreflect.MessageDescriptor, v any) any {
	obj, ok := v.(map[string]any)
	if !ok {
		return v // a well-known type written as a string (a time, a duration)
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		val, ok := obj[fd.JSONName()]
		if !ok {
			continue
		}
		conv := func(x any) any { return x }
		switch {
		case is64(fd.Kind()):
			conv = func(x any) any {
				if s, ok := x.(string); ok {
					return json.Number(s)
				}
				return x
			}
		case fd.Kind() == protoreflect.MessageKind && !fd.IsMap():
			sub := fd.Message()
			conv = func(x any) any { return int64sAsNumbers(sub, x) }
		case fd.IsMap() && is64(fd.MapValue().Kind()):
			// map values only; keys stay strings in JSON
			if mv, ok := val.(map[string]any); ok {
				for k, x := range mv {
					if s, ok := x.(string); ok {
						mv[k] = json.Number(s)
					}
				}
			}
			continue
		default:
			continue
		}
		if list, ok := val.([]any); ok && fd.IsList() {
			for j := range list {
				list[j] = conv(list[j])
			}
			continue
		}
		obj[fd.JSONName()] = conv(val)
	}
	return obj
}

func is64(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}
