// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What KMM derives for one Module on one kernel: the mapping (§1.6), the
 * merge of mapping over container (§1.7), substitution (§1.8) and the
 * effective build arguments (§2.3).
 */
#include <stdlib.h>
#include <string.h>

#include "kmm/kmm.h"
#include "util/xalloc.h"

static struct kmm_buildarg *find_arg(struct kmm_buildarg *v, size_t n, const char *name)
{
	struct kmm_buildarg *hit = NULL;

	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			hit = &v[i]; /* a Go map: the last one wins */
	return hit;
}

static int cmp_arg(const void *a, const void *b)
{
	return strcmp(((const struct kmm_buildarg *)a)->name, ((const struct kmm_buildarg *)b)->name);
}

/*
 * ApplyBuildArgOverrides: args keep their order, one whose name is overridden
 * takes the override's value; overrides not used are appended sorted by name.
 */
static void apply_overrides(struct kmi_arena *a, struct kmm_build *b,
			    struct kmm_buildarg *ov, size_t nov)
{
	struct kmm_buildarg *out = kmi_arena_alloc(a, (b->nargs + nov + 1) * sizeof(*out));
	struct kmm_buildarg *rest = xcalloc(nov + 1, sizeof(*rest));
	size_t n = 0, nrest = 0;

	for (size_t i = 0; i < b->nargs; i++) {
		struct kmm_buildarg *o = find_arg(ov, nov, b->args[i].name);

		out[n++] = o ? *o : b->args[i];
	}
	for (size_t i = 0; i < nov; i++) {
		bool used = false;

		if (find_arg(ov, nov, ov[i].name) != &ov[i])
			continue; /* a later one with that name is the one that counts */
		for (size_t j = 0; j < b->nargs && !used; j++)
			used = strcmp(b->args[j].name, ov[i].name) == 0;
		if (!used)
			rest[nrest++] = ov[i];
	}
	qsort(rest, nrest, sizeof(*rest), cmp_arg);
	memcpy(out + n, rest, nrest * sizeof(*rest));
	free(rest);
	b->args = out;
	b->nargs = n + nrest;
}

static struct kmm_strv strv_concat(struct kmi_arena *a, const struct kmm_strv *x,
				   const struct kmm_strv *y)
{
	struct kmm_strv r = { .set = x->set || y->set };

	r.v = kmi_arena_alloc(a, (x->n + y->n + 1) * sizeof(char *));
	for (size_t i = 0; i < x->n; i++)
		r.v[r.n++] = x->v[i];
	for (size_t i = 0; i < y->n; i++)
		r.v[r.n++] = y->v[i];
	r.v[r.n] = NULL;
	return r;
}

/* getRelevantBuild: the module's build, with the mapping's ConfigMap, args and secrets. */
static struct kmm_build *merge_build(struct kmi_arena *a, const struct kmm_build *mod,
				     const struct kmm_build *map)
{
	struct kmm_build *b = kmi_arena_alloc(a, sizeof(*b));

	if (mod == NULL || map == NULL) {
		*b = mod ? *mod : *map;
		return b;
	}
	*b = *mod;
	if (map->dockerfile_cm != NULL)
		b->dockerfile_cm = map->dockerfile_cm;
	apply_overrides(a, b, map->args, map->nargs);
	b->secrets = strv_concat(a, &mod->secrets, &map->secrets);
	return b;
}

/* getRelevantSign: the module's sign, overridden field by field, files appended. */
static struct kmm_sign *merge_sign(struct kmi_arena *a, const struct kmm_sign *mod,
				   const struct kmm_sign *map)
{
	struct kmm_sign *s = kmi_arena_alloc(a, sizeof(*s));

	if (mod == NULL || map == NULL) {
		*s = mod ? *mod : *map;
		return s;
	}
	*s = *mod;
	if (map->unsigned_image[0] != '\0')
		s->unsigned_image = map->unsigned_image;
	if (map->key_secret != NULL)
		s->key_secret = map->key_secret;
	if (map->cert_secret != NULL)
		s->cert_secret = map->cert_secret;
	s->files = strv_concat(a, &mod->files, &map->files);
	return s;
}

static char *subst(struct kmm_plan *p, const char *what, const char *tmpl,
		   const struct kmm_env *env, struct kmm_diags *d, const struct kmm_pos *pos)
{
	char err[512], *r = kmm_envsubst(tmpl, env, err, sizeof(err));
	char *out;

	if (r == NULL) {
		kmm_error_at(d, pos, "kernel %s: %s: %s", p->kernel, what, err);
		return NULL;
	}
	out = kmi_arena_strdup(&p->arena, r);
	free(r);
	return out;
}

static int substitute_sign(struct kmm_plan *p, const struct kmm_env *kenv, struct kmm_diags *d)
{
	struct kmm_sign *s = p->sign;
	struct kmm_strv files = s->files;

	s->unsigned_image = subst(p, "sign.unsignedImage", s->unsigned_image, kenv, d, &s->pos);
	if (s->unsigned_image == NULL)
		return -1;
	s->files.v = kmi_arena_alloc(&p->arena, (files.n + 1) * sizeof(char *));
	for (size_t i = 0; i < files.n; i++) {
		s->files.v[i] = subst(p, "sign.filesToSign", files.v[i], kenv, d, &s->files_pos);
		if (s->files.v[i] == NULL)
			return -1;
	}
	return 0;
}

static void kmm_build_args(struct kmm_plan *p)
{
	const struct kmm_module *m = p->module;
	struct kmm_buildarg ov[4] = {
		{ "KERNEL_VERSION", p->kernel_trim },
		{ "KERNEL_FULL_VERSION", p->kernel_trim },
		{ "MOD_NAME", m->name },
		{ "MOD_NAMESPACE", m->ns },
	};

	apply_overrides(&p->arena, p->build, ov, 4);
}

static void select_intree(struct kmm_plan *p, const struct kmm_mapping *km)
{
	const struct kmm_module *m = p->module;
	const char *one = km->intree_one[0] ? km->intree_one : m->intree_one;

	p->intree = km->intree.set ? km->intree : m->intree;
	if (one[0] != '\0') {
		p->intree.v = kmi_arena_alloc(&p->arena, 2 * sizeof(char *));
		p->intree.v[0] = (char *)one;
		p->intree.v[1] = NULL;
		p->intree.n = 1;
		p->intree.set = true;
	}
}

int kmm_plan(const struct kmm_module *m, const char *kernel, struct kmm_plan *p,
	     struct kmm_diags *d)
{
	struct kmm_env kenv, ienv;
	const struct kmm_mapping *km;
	char err[512];
	char *s;
	int idx;

	memset(p, 0, sizeof(*p));
	p->module = m;
	p->mapping = -1;
	p->kernel = kmi_arena_strdup(&p->arena, kernel);
	s = kmm_kernel_trim(kernel);
	p->kernel_trim = kmi_arena_strdup(&p->arena, s);
	free(s);
	s = kmm_kernel_normalize(p->kernel_trim);
	p->kernel_norm = kmi_arena_strdup(&p->arena, s);
	free(s);
	s = kmm_kernel_dns(p->kernel_trim);
	p->kernel_dns = kmi_arena_strdup(&p->arena, s);
	free(s);
	if (!m->has_loader)
		return 0;
	idx = kmm_find_mapping(m, p->kernel_trim, err, sizeof(err));
	if (idx == -2) {
		kmm_error_at(d, &m->pos, "kernel %s: %s", kernel, err);
		return -1;
	}
	if (idx < 0)
		return 0;
	km = &m->maps[idx];
	p->targeted = true;
	p->mapping = idx;
	if (km->build != NULL || m->build != NULL)
		p->build = merge_build(&p->arena, m->build, km->build);
	if (km->sign != NULL || m->sign != NULL)
		p->sign = merge_sign(&p->arena, m->sign, km->sign);
	p->tls = km->tls ? *km->tls : m->tls;
	select_intree(p, km);
	if (kmm_kernel_env(p->kernel_norm, &kenv, &p->arena) < 0) {
		kmm_error_at(d, &km->pos,
			     "kernel %s: invalid kernel version: expected at least three components (major.minor.patch)",
			     kernel);
		return -1;
	}
	if (p->sign != NULL && substitute_sign(p, &kenv, d) < 0)
		return -1;
	ienv = kenv;
	ienv.name[ienv.n] = "MOD_NAME";
	ienv.value[ienv.n++] = m->name;
	ienv.name[ienv.n] = "MOD_NAMESPACE";
	ienv.value[ienv.n++] = m->ns;
	p->image = subst(p, "containerImage", km->image[0] ? km->image : m->image, &ienv, d,
			 km->image[0] ? &km->image_pos : &m->image_pos);
	if (p->image == NULL)
		return -1;
	if (p->build != NULL)
		kmm_build_args(p);
	return 0;
}

void kmm_plan_free(struct kmm_plan *p)
{
	kmm_diags_free(&p->notes);
	kmi_arena_free(&p->arena);
}
