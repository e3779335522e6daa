// Package render turns a directory of a Git checkout into the Kubernetes objects Writ applies.
//
// Render reads Options.Path inside Options.Root, the checkout:
//
//   - If the path holds a kustomization (kustomization.yaml, kustomization.yml or Kustomization),
//     it is built with Kustomize (sigs.k8s.io/kustomize/api, krusty) with the load restrictor
//     LoadRestrictionsRootOnly, plugins and exec functions disabled, Helm disabled, and a
//     read-only filesystem that refuses every path or symlink leading outside Root. Remote
//     resources (https://..., git@..., github.com/...) are refused before the build starts,
//     since rendering is offline: vendor them into the repository.
//   - Otherwise every .yaml, .yml and .json file found recursively under the path is read as a
//     stream of documents, in the order of their slash-separated paths then of the documents in
//     each file. Empty and comments-only documents are skipped, and Lists (kind List, or any kind
//     ending in "List" with an items array) are expanded. A subdirectory that holds a
//     kustomization is built with Kustomize as one unit, in place of its files. Files and
//     directories whose names begin with a dot (.git, .github, ...) are skipped.
//
// YAML is read as YAML 1.2, like Kustomize does: yes, no, on and off are strings, and timestamps
// keep their text.
//
// Every object needs apiVersion, kind and metadata.name; two objects with the same group, kind,
// namespace and name are an error naming both files; a Secret whose data holds a value that is
// not base64 is an error naming the file and the key, never the value. Errors name the file
// relative to Root, and for a YAML or JSON problem the document and line:
//
//	clusters/prod/web.yaml: document 2: yaml: line 7: mapping values are not allowed in this context
//
// Options.TargetNamespace is set on namespaced objects that have no namespace. An object's scope
// comes from the CustomResourceDefinitions in the rendered set, then from Options.Scope (see
// RESTMapperScope), then from a table of the built-in Kubernetes kinds; objects of a kind whose
// scope is still unknown keep what they have.
//
// Render does not order objects for applying: Sort places CustomResourceDefinitions first, then
// Namespaces, then the rest in their rendered order.
//
// Limits: a file larger than MaxFileSize (10 MiB) or a render of more than MaxObjects (10,000)
// objects is refused with an error wrapping ErrLimit. Kustomize keeps global state, so builds
// run one at a time in a process; Render waits for its turn only as long as its context allows.
package render
