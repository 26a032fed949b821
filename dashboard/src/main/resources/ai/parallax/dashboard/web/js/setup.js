// Setup: choose a model, the number of nodes and the network, then continue to the join page.
import { h, bytes, count, json } from './util.js';
import { status } from './store.js';

export function setupPage(root) {
  const error = h('div', { class: 'alert err', role: 'alert', hidden: true });
  const list = h('div', { class: 'model-list', role: 'radiogroup', 'aria-label': 'Model' },
    h('p', { class: 'muted' }, 'Loading the models…'));
  const nodes = h('input', { type: 'number', id: 'nodes', min: 1, max: 256, value: 1, inputmode: 'numeric' });
  const capacity = h('div', { id: 'capacity', 'aria-live': 'polite' });
  const submit = h('button', { class: 'button primary', type: 'submit', id: 'continue' }, 'Continue');
  let models = null;

  const form = h('form', { class: 'setup-layout', onsubmit: onSubmit },
    h('section', { class: 'card' },
      h('h2', {}, 'Model'),
      list),
    h('section', { class: 'card stack' },
      h('h2', {}, 'Cluster'),
      h('label', { class: 'field', for: 'nodes' }, 'Nodes ', h('span', { class: 'hint' }, '(machines that will share the layers)'), nodes),
      h('div', {},
        h('div', { class: 'field', id: 'network-label' }, 'Network'),
        h('div', { class: 'segmented', role: 'radiogroup', 'aria-labelledby': 'network-label' },
          h('label', {}, h('input', { type: 'radio', name: 'network', value: 'lan', checked: true }), 'LAN'),
          h('label', {}, h('input', { type: 'radio', name: 'network', value: 'public' }), 'Public')),
        h('p', { class: 'muted small', id: 'network-hint' }, networkHint('lan'))),
      capacity,
      error,
      h('div', { class: 'row' }, h('span', { class: 'spacer' }), submit)));

  root.append(h('div', { class: 'page' },
    h('h1', {}, 'Set up your cluster'),
    h('p', { class: 'lead' }, 'Pick a model from the models folder and how many machines will serve it.'),
    form));

  form.addEventListener('change', (e) => {
    if (e.target.name === 'network') form.querySelector('#network-hint').textContent = networkHint(e.target.value);
    updateCapacity();
  });
  nodes.addEventListener('input', updateCapacity);

  function networkHint(value) {
    return value === 'lan'
      ? 'Nodes on this local network find the scheduler by themselves.'
      : 'Nodes join through this machine\'s public address and the join token.';
  }

  function selected() {
    const input = form.querySelector('input[name="model"]:checked');
    return input && models.models.find((m) => m.id === input.value);
  }

  function updateCapacity() {
    if (!models) return;
    const model = selected();
    const n = Math.max(1, Number(nodes.value) || 1);
    capacity.replaceChildren();
    if (!model) return;
    // Until nodes join, the scheduler machine's free memory is the best guess of what one node holds.
    const available = models.nodeMemoryBytes * n;
    const need = model.estimatedMemoryBytes;
    if (need > available) {
      const more = Math.ceil(need / models.nodeMemoryBytes) - n;
      capacity.append(h('div', { class: 'alert warn', id: 'capacity-warning' },
        h('strong', {}, `${n} node${n > 1 ? 's' : ''} may not hold ${model.id}. `),
        `It needs about ${bytes(need)}; ${n} node${n > 1 ? 's' : ''} with ${bytes(models.nodeMemoryBytes)} free each `
          + `(like this one) have ${bytes(available)}. Add about ${more} more node${more > 1 ? 's' : ''}, `
          + 'or pick a smaller model.'));
    } else {
      capacity.append(h('div', { class: 'alert ok' },
        `Fits: about ${bytes(need)} needed, ${bytes(available)} free on ${n} node${n > 1 ? 's' : ''} like this one.`));
    }
  }

  async function onSubmit(e) {
    e.preventDefault();
    error.hidden = true;
    const model = selected();
    if (!model) {
      showError('Pick a model first.');
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Starting…';
    try {
      await json('/cluster/setup', {
        method: 'POST',
        body: JSON.stringify({
          model: model.id,
          nodes: Math.max(1, Number(nodes.value) || 1),
          network: form.querySelector('input[name="network"]:checked').value,
        }),
      });
      await status.refresh();
      location.hash = '#/join';
    } catch (err) {
      showError(err.message);
    } finally {
      submit.disabled = false;
      submit.textContent = 'Continue';
    }
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }

  json('/cluster/models').then((m) => {
    models = m;
    list.replaceChildren();
    if (m.models.length === 0) {
      list.append(h('div', { class: 'alert warn' }, `No models in ${m.modelsDir}. Put Hugging Face model folders there.`));
      return;
    }
    const preferred = m.current || m.models.find((x) => !x.problem)?.id;
    for (const model of m.models) {
      const id = `model-${model.id}`;
      list.append(h('label', { class: 'model-option' + (model.problem ? ' unavailable' : ''), for: id },
        h('input', { type: 'radio', name: 'model', id, value: model.id, disabled: !!model.problem,
          checked: model.id === preferred }),
        h('div', {},
          h('div', { class: 'row' }, h('span', { class: 'model-name' }, model.id),
            model.id === m.current ? h('span', { class: 'badge ready' }, 'loaded') : null),
          h('div', { class: 'facts' },
            h('span', {}, h('b', {}, model.architecture || model.modelType || 'unknown'), ' architecture'),
            h('span', {}, h('b', {}, count(model.parameters)), ' parameters'),
            h('span', {}, h('b', {}, model.dtype || '—'), ' weights'),
            h('span', {}, h('b', {}, bytes(model.diskBytes)), ' on disk'),
            h('span', {}, '≈ ', h('b', {}, bytes(model.estimatedMemoryBytes)), ' memory'),
            h('span', {}, h('b', {}, model.numLayers), ' layers')),
          model.problem ? h('div', { class: 'small', style: { color: 'var(--err)', marginTop: '4px' } }, model.problem) : null)));
    }
    updateCapacity();
  }).catch((err) => {
    list.replaceChildren(h('div', { class: 'alert err', role: 'alert' }, `Cannot list the models: ${err.message}`));
  });
}
