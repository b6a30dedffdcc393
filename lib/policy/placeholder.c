/* Placeholder until the policy layer lands; delete when adding real sources. */
typedef int pt__policy_placeholder;
