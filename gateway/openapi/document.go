// Package openapi is the part of OpenAPI 3.1 the gateway writes about
// itself, and Bundle, which turns the JSON Schema files of contracts into
// components of one document.
package openapi

import "encoding/json"

// Version is the OpenAPI version of the documents this package writes.
const Version = "3.1.0"

// Dialect is the JSON Schema dialect of every schema in the document.
const Dialect = "https://json-schema.org/draft/2020-12/schema"

// Document is an OpenAPI document.
type Document struct {
	OpenAPI           string               `json:"openapi"`
	Info              Info                 `json:"info"`
	JSONSchemaDialect string               `json:"jsonSchemaDialect,omitempty"`
	Servers           []Server             `json:"servers,omitempty"`
	Tags              []Tag                `json:"tags,omitempty"`
	Paths             map[string]*PathItem `json:"paths"`
	Components        Components           `json:"components"`
}

// Server is where the API is served; "/" is the host that served the
// document.
type Server struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
}

// Link names an operation a response leads to, and where in the response
// its parameters come from (runtime expressions such as $response.body#/id).
type Link struct {
	OperationID string            `json:"operationId"`
	Parameters  map[string]string `json:"parameters,omitempty"`
	Description string            `json:"description,omitempty"`
}

// Info describes the API.
type Info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// Tag groups operations.
type Tag struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// PathItem holds the operations of one path.
type PathItem struct {
	Summary string     `json:"summary,omitempty"`
	Get     *Operation `json:"get,omitempty"`
	Post    *Operation `json:"post,omitempty"`
	Delete  *Operation `json:"delete,omitempty"`
}

// Operation is one method on one path.
type Operation struct {
	OperationID string               `json:"operationId"`
	Summary     string               `json:"summary,omitempty"`
	Description string               `json:"description,omitempty"`
	Tags        []string             `json:"tags,omitempty"`
	Deprecated  bool                 `json:"deprecated,omitempty"`
	Parameters  []*Parameter         `json:"parameters,omitempty"`
	RequestBody *RequestBody         `json:"requestBody,omitempty"`
	Responses   map[string]*Response `json:"responses"`
	// Security lists the ways to authenticate, any one of which will do.
	Security []SecurityRequirement `json:"security,omitempty"`
}

// SecurityRequirement names a security scheme of the components (and, for
// OAuth, its scopes).
type SecurityRequirement map[string][]string

// SecurityScheme is a way clients authenticate.
type SecurityScheme struct {
	Type         string `json:"type"`
	Scheme       string `json:"scheme,omitempty"`
	BearerFormat string `json:"bearerFormat,omitempty"`
	Description  string `json:"description,omitempty"`
}

// Parameter is a header, path or query parameter, or a $ref to one.
type Parameter struct {
	Ref         string `json:"$ref,omitempty"`
	Name        string `json:"name,omitempty"`
	In          string `json:"in,omitempty"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	Schema      any    `json:"schema,omitempty"`
}

// RequestBody is an operation's body.
type RequestBody struct {
	Description string               `json:"description,omitempty"`
	Required    bool                 `json:"required"`
	Content     map[string]MediaType `json:"content"`
}

// MediaType is a body of one content type.
type MediaType struct {
	Schema   any                 `json:"schema,omitempty"`
	Examples map[string]*Example `json:"examples,omitempty"`
}

// Example is a named example value.
type Example struct {
	Summary string          `json:"summary,omitempty"`
	Value   json.RawMessage `json:"value"`
}

// Response is a response, or a $ref to one.
type Response struct {
	Ref         string               `json:"$ref,omitempty"`
	Description string               `json:"description,omitempty"`
	Headers     map[string]*Header   `json:"headers,omitempty"`
	Content     map[string]MediaType `json:"content,omitempty"`
	Links       map[string]*Link     `json:"links,omitempty"`
}

// Header is a response header, or a $ref to one.
type Header struct {
	Ref         string `json:"$ref,omitempty"`
	Description string `json:"description,omitempty"`
	Schema      any    `json:"schema,omitempty"`
}

// Components holds what operations refer to.
type Components struct {
	Schemas    map[string]any        `json:"schemas,omitempty"`
	Responses  map[string]*Response  `json:"responses,omitempty"`
	Parameters map[string]*Parameter `json:"parameters,omitempty"`
	Headers    map[string]*Header    `json:"headers,omitempty"`
	// SecuritySchemes are the ways clients may authenticate, by name.
	SecuritySchemes map[string]*SecurityScheme `json:"securitySchemes,omitempty"`
}

// Ref returns a JSON Schema {"$ref": ...} to a component schema.
func Ref(name string) map[string]any { return map[string]any{"$ref": SchemaRef(name)} }

// SchemaRef is the $ref of a component schema.
func SchemaRef(name string) string { return "#/components/schemas/" + name }
