"""Renders a kustomization the way `kubectl kustomize` does, for the few features that
scripts/deploy/kubernetes uses, so that the manifests can be checked where neither
kustomize nor kubectl is installed. Anything else in a kustomization.yaml is refused
rather than ignored; scripts/deploy/validate compares this output with kubectl's
wherever kubectl is found.

Supported: resources (files), configMapGenerator (files, literals) with
generatorOptions.disableNameSuffixHash: true (and its labels), images (newName, newTag,
digest) and replacements (source kind/name/fieldPath; targets select kind/name,
fieldPaths with [name=...] list selectors).
"""

import copy
import os

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "images", "configMapGenerator", "generatorOptions", "replacements"}


class RenderError(Exception):
    pass


def load_kustomization(directory):
    path = os.path.join(directory, "kustomization.yaml")
    try:
        with open(path) as f:
            k = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise RenderError(f"{path}: {e}")
    unsupported = sorted(set(k) - SUPPORTED)
    if unsupported:
        raise RenderError(
            f"{path}: {', '.join(unsupported)} not supported by this renderer (render with kubectl kustomize)"
        )
    return k


def load_resources(directory, k):
    docs = []
    for name in k.get("resources", []):
        path = os.path.join(directory, name)
        try:
            with open(path) as f:
                docs.extend(d for d in yaml.safe_load_all(f) if d is not None)
        except (OSError, yaml.YAMLError) as e:
            raise RenderError(f"{path}: {e}")
    return docs


def literal(item):
    key, sep, value = item.partition("=")
    if not sep:
        raise RenderError(f"configMapGenerator literal {item!r} is not KEY=VALUE")
    # kustomize drops one pair of surrounding quotes.
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return key, value


def generate_config_maps(directory, k):
    options = k.get("generatorOptions", {})
    generators = k.get("configMapGenerator", [])
    if generators and options.get("disableNameSuffixHash") is not True:
        raise RenderError("configMapGenerator needs generatorOptions.disableNameSuffixHash: true here")
    unknown = sorted(set(options) - {"disableNameSuffixHash", "labels"})
    if unknown:
        raise RenderError(f"generatorOptions: {', '.join(unknown)} not supported by this renderer")
    out = []
    for g in generators:
        unknown = sorted(set(g) - {"name", "files", "literals"})
        if unknown:
            raise RenderError(f"configMapGenerator {g.get('name')}: {', '.join(unknown)} not supported")
        data = {}
        for f in g.get("files", []):
            key, sep, path = f.partition("=")
            if not sep:
                key, path = os.path.basename(f), f
            try:
                with open(os.path.join(directory, path)) as fh:
                    data[key] = fh.read()
            except OSError as e:
                raise RenderError(f"configMapGenerator {g['name']}: {e}")
        for item in g.get("literals", []):
            key, value = literal(item)
            data[key] = value
        metadata = {"name": g["name"]}
        if options.get("labels"):
            metadata["labels"] = dict(options["labels"])
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    return out


def pod_specs(doc):
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        yield spec
    template = spec.get("template") or {}
    if "spec" in template:
        yield template["spec"]
    job_template = (spec.get("jobTemplate") or {}).get("spec", {}).get("template", {})
    if "spec" in job_template:
        yield job_template["spec"]


def image_name(image):
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def set_images(docs, images):
    for rule in images:
        unknown = sorted(set(rule) - {"name", "newName", "newTag", "digest"})
        if unknown:
            raise RenderError(f"images {rule.get('name')}: {', '.join(unknown)} not supported")
    for doc in docs:
        for spec in pod_specs(doc):
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                for rule in images:
                    if image_name(c.get("image", "")) != rule["name"]:
                        continue
                    image = c["image"]
                    name = image_name(image)
                    suffix = image[len(name):]
                    name = rule.get("newName", name)
                    if "digest" in rule:
                        suffix = "@" + str(rule["digest"])
                    elif "newTag" in rule:
                        suffix = ":" + str(rule["newTag"])
                    c["image"] = name + suffix


def split_path(path):
    parts, depth, current = [], 0, ""
    for ch in path:
        if ch == "." and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        current += ch
    parts.append(current)
    return parts


def step(node, part, path):
    if part.startswith("[") and part.endswith("]"):
        key, _, value = part[1:-1].partition("=")
        if not isinstance(node, list):
            raise RenderError(f"{path}: {part} selects from something that is not a list")
        for item in node:
            if isinstance(item, dict) and str(item.get(key)) == value:
                return item
        raise RenderError(f"{path}: no item with {key}={value}")
    if not isinstance(node, dict) or part not in node:
        raise RenderError(f"{path}: no field {part!r}")
    return node[part]


def find(doc, kind, name):
    for d in doc:
        if d.get("kind") == kind and d.get("metadata", {}).get("name") == name:
            return d
    raise RenderError(f"replacements: no {kind} named {name}")


def replace(docs, replacements):
    for r in replacements:
        src = r["source"]
        node = find(docs, src["kind"], src["name"])
        for part in split_path(src["fieldPath"]):
            node = step(node, part, src["fieldPath"])
        value = node
        for target in r["targets"]:
            sel = target["select"]
            unknown = sorted(set(target) - {"select", "fieldPaths"}) + sorted(set(sel) - {"kind", "name"})
            if unknown:
                raise RenderError(f"replacements target: {', '.join(unknown)} not supported")
            doc = find(docs, sel["kind"], sel["name"])
            for path in target["fieldPaths"]:
                parts = split_path(path)
                parent = doc
                for part in parts[:-1]:
                    parent = step(parent, part, path)
                old = step(parent, parts[-1], path)
                new = value
                # Like kustomize: a value copied into a number (or boolean) field keeps
                # the field's type.
                if isinstance(old, bool) and isinstance(value, str):
                    new = {"true": True, "false": False}.get(value.lower(), value)
                elif isinstance(old, int) and not isinstance(old, bool) and isinstance(value, str):
                    try:
                        new = int(value)
                    except ValueError:
                        new = value
                parent[parts[-1]] = copy.deepcopy(new)


def render(directory):
    """The kustomization in `directory` as a list of manifests (dicts)."""
    k = load_kustomization(directory)
    docs = generate_config_maps(directory, k) + load_resources(directory, k)
    set_images(docs, k.get("images", []))
    replace(docs, k.get("replacements", []))
    return docs
